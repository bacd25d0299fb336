"""C2PA Content Credentials: whether an image's signed manifest declares AI generation.

Framework-free. The ``c2pa`` library is optional: without it the signal says it was not checked.
"""

from __future__ import annotations

import io
import json
from typing import Any

from matching.lib.imaging import IMAGE_MIME_TYPES, sniff_image_type

# IPTC digital source types that declare the content as made by a generative model.
_AI_SOURCE_TYPES = (
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "algorithmicMedia",
)


def c2pa_signal(data: bytes) -> dict[str, Any]:
    """Whether the file's C2PA Content Credentials declare AI generation, beside the faces.

    ``{"checked": false}`` when the c2pa library is not installed; otherwise ``manifest`` says
    whether credentials are present and ``ai_generated`` is true when any manifest's actions
    carry an AI digital source type, false when credentials are present without one, and null
    without credentials. ``validation_state`` and ``trusted`` (the signer chains to a trust list
    the registry knows; none is configured, so usually false) let a platform weigh it: a
    manifest is a claim by whoever signed it, not proof.
    """
    try:
        # Imported here, not at the top: without the library the signal says so instead of
        # the app failing to start.
        import c2pa
    except ImportError:
        return {"checked": False, "reason": "c2pa-python is not installed"}

    mime = IMAGE_MIME_TYPES.get(sniff_image_type(data) or "")
    if not mime:
        return {"checked": False, "reason": "not an image type with Content Credentials support"}
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data))
    except c2pa.C2paError as error:
        if "ManifestNotFound" in type(error).__name__ or "not found" in str(error).lower():
            return {"checked": True, "manifest": False, "ai_generated": None}
        return {
            "checked": True,
            "manifest": False,
            "ai_generated": None,
            "error": f"unreadable Content Credentials: {type(error).__name__}",
        }
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    finally:
        reader.close()
    sources = sorted(
        {
            str(action.get("digitalSourceType", ""))
            for manifest in (store.get("manifests") or {}).values()
            for assertion in manifest.get("assertions") or []
            if str(assertion.get("label", "")).startswith("c2pa.actions")
            for action in (assertion.get("data") or {}).get("actions") or []
            if action.get("digitalSourceType")
        }
    )
    statuses = {entry.get("code") for entry in store.get("validation_status") or []}
    active = (store.get("manifests") or {}).get(store.get("active_manifest") or "", {})
    return {
        "checked": True,
        "manifest": True,
        "ai_generated": any(s.rsplit("/", 1)[-1] in _AI_SOURCE_TYPES for s in sources),
        "digital_source_types": sources,
        "validation_state": str(state),
        "trusted": "signingCredential.untrusted" not in statuses,
        "signed_by": (active.get("signature_info") or {}).get("issuer"),
    }
