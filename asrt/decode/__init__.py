"""Stage 7: greedy CTC and WFST search, lattice rescoring, scoring, the decode-and-score step."""
