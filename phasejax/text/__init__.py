"""Free text as a lattice.

Generated text is a one-dimensional chain: each site (a character, a token or a word) holds one
of ``q`` states given by a mapping of the text (:mod:`phasejax.text.spins`: whitespace or not,
token classes, token-id buckets, part-of-speech tags). The resulting ``(n_sequences, N)`` state
arrays are measured by :mod:`phasejax.analysis.sequences` exactly like a toy chain's.
"""
