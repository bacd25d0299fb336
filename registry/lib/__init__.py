"""Framework-free code every app may use (no Django imports here).

``outbound``: the one HTTP client for user-supplied URLs; ``aead``: the AES-GCM envelopes every
secret and kept photo is encrypted in (``photo_crypto`` for photos); ``template_protection``:
keyed, distance-preserving protection of face templates; ``errors``: the project's error types;
``env`` and ``local_secrets``: settings from the environment; ``embedded_db``: the embedded
PostgreSQL of local runs.
"""
