"""Framework-free building blocks of the transparency log (no Django imports in this package).

Kept apart so an offline verifier (or a test) can use canonical JSON, signatures and Merkle
proofs without a database or settings.
"""
