"""Route modules, each an APIRouter included by `gateway.web.app.create_web_app`."""
