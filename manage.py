#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def _use_uvloop_for_the_server() -> None:
    """`xmppd` runs on Daphne's Twisted reactor, whose asyncio loop is created when Django
    loads the daphne app: the loop policy has to be chosen before django.setup()."""
    if sys.argv[1:2] != ["xmppd"] or "--no-uvloop" in sys.argv:
        return
    try:
        import asyncio

        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xmppsite.settings")
    _use_uvloop_for_the_server()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
