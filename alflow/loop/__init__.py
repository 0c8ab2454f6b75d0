"""A loop as a whole: the workspace wiring real systems, recovery, status and reports."""
