"""`coedit up`, `coedit status`, `coedit export`: a whole session on one machine."""
