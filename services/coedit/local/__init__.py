"""Running coedit's backing servers (PostgreSQL, Redis) on one machine, without root
or Kubernetes: used by `coedit up`, the tests and the benchmarks."""
