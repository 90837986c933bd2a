"""One set of test helpers: free ports, subprocesses, waiting on conditions, "nothing more"."""
