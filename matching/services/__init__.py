"""Every write (and every face decision) of the matching app: media checks.

The flow of a check, whatever the media:

1. faces are found and embedded (``media``: ``image_faces`` for images, ``embeddings_faces`` for
   embeddings a platform computed itself with the same model; ``video`` for video tracks);
2. ``faces_decide`` (``decide``) searches the templates of people with an active opt-out
   covering the use, decides per person over all of their templates, weighs the calling
   organisation's grants and names people only by per-organisation references;
3. ``check_record`` (``checks``, synchronous checks) or ``check_finish`` (``video``, jobs) stores
   what must be stored and signs the receipt.

Modules, by responsibility:

* ``media``: ``FaceObservation``, decoding an image into faces, validating a platform's
  embeddings (the use category is checked by ``consent.lib.uses.category_check``);
* ``decide``: ``faces_decide``, its candidates and opt-out / consent lookup, ``opaque_reference``;
* ``checks``: the synchronous image and embeddings checks, recording a check with its matches
  and signed receipt, ``check_get`` and ``check_representation``;
* ``submit``: one uploaded file (image or video) into a check, for the API and the web form;
* ``reviews``: a member's decision on a face that needs review;
* ``retention``: dropping the per-face detail of old checks;
* ``video``: video checks as jobs (create, start, progress, cancel, finish, fail), running one
  (``video_check_execute``, behind the ``video_check_run`` task) and its signed callback.

The face engine is called from ``media`` and ``decide`` here, from ``matching.video`` for
video, and from enrollment in ``lifecycle``. Callers use the names re-exported here.
"""

from matching.services.checks import (
    RECEIPT_KIND,
    check_get,
    check_matches_record,
    check_receipt,
    check_record,
    check_representation,
    embeddings_check,
    image_check,
    review_representation,
)
from matching.services.decide import HITS_PER_FACE, faces_decide, opaque_reference
from matching.services.media import (
    MAX_EMBEDDINGS,
    FaceObservation,
    embeddings_digest,
    embeddings_faces,
    image_faces,
)
from matching.services.retention import check_detail_strip, check_details_drop
from matching.services.reviews import review_decide
from matching.services.search_index import (
    SearchIndexState,
    search_index_build,
    search_index_changes,
    search_index_refresh,
    search_index_state,
)
from matching.services.submit import media_check_submit
from matching.services.video import (
    check_callback_attempt,
    check_callback_post,
    check_cancel,
    check_fail,
    check_finish,
    check_media_delete,
    check_media_path,
    check_progress,
    check_start,
    video_check_create,
    video_check_execute,
    video_observations,
)

__all__ = [
    "HITS_PER_FACE",
    "MAX_EMBEDDINGS",
    "RECEIPT_KIND",
    "FaceObservation",
    "SearchIndexState",
    "check_callback_attempt",
    "check_callback_post",
    "check_cancel",
    "check_detail_strip",
    "check_details_drop",
    "check_fail",
    "check_finish",
    "check_get",
    "check_matches_record",
    "check_media_delete",
    "check_media_path",
    "check_progress",
    "check_receipt",
    "check_record",
    "check_representation",
    "check_start",
    "embeddings_check",
    "embeddings_digest",
    "embeddings_faces",
    "faces_decide",
    "image_check",
    "image_faces",
    "media_check_submit",
    "opaque_reference",
    "review_decide",
    "review_representation",
    "search_index_build",
    "search_index_changes",
    "search_index_refresh",
    "search_index_state",
    "video_check_create",
    "video_check_execute",
    "video_observations",
]
