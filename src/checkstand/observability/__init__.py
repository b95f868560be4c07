"""What an operator reads: log lines (:mod:`.logs`) and the process's metrics (:mod:`.metrics`)."""
