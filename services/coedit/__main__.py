from coedit.cli import main

main()
