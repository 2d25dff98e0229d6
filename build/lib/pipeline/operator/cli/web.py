"""``scangrade serve``: the teachers' web app."""

from __future__ import annotations

import click
import uvicorn

from pipeline.adapters.db.session import PoolRole, use_pool
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_redis
from pipeline.operator.cli_support import need_services
from pipeline.operator.web import create_app
from pipeline.operator.web.secret import web_secret
from pipeline.settings import get_settings


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but loopback needs SCANGRADE_WEB_SECRET.",
)
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
def serve(host: str, port: int) -> None:
    """Serve the teachers' web app: batches, class grids, pages with their boxes, overrides.

    Teachers sign in with the accounts `scangrade users` makes, and see their own classes
    only; admins see every class. Stop it with Ctrl-C.
    """
    secret = web_secret(get_settings(), host)
    need_services()
    use_pool(PoolRole.WEB)
    app = create_app(secret, get_store(), get_redis())
    # Behind a proxy every client has the proxy's address (sign-in failures then count per
    # user name alone): forwarded headers are not trusted, so none can be forged.
    uvicorn.run(
        app, host=host, port=port, log_config=None, proxy_headers=False, server_header=False
    )


COMMANDS = (serve,)
