"""Serve the native page's bundle (``GET /static/oauth-profiles.js``): public, no secret in it, cacheable."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException

from airflow_oauth_connector.plugins import bundle

router = APIRouter()

_IMMUTABLE = "public, max-age=31536000, immutable"


@router.get(f"{bundle.STATIC_PATH}/{bundle.BUNDLE_NAME}", name="bundle", include_in_schema=False)
def bundle_script(v: str = "") -> Response:
    """
    The bundle, with the content type a module import needs (the responses carry ``nosniff``). Airflow's UI
    imports it without credentials checks of its own; it holds code only. A URL with the current version
    (``?v=``, the content hash) may be cached for good; any other is revalidated.
    """
    if not bundle.available():
        raise HTTPException(404, "The OAuth profiles page was not built (npm ci && npm run build in ui/).")
    cache = _IMMUTABLE if v and v == bundle.version() else "no-cache"
    return FileResponse(
        bundle.bundle_file(), media_type="text/javascript; charset=utf-8", headers={"Cache-Control": cache}
    )
