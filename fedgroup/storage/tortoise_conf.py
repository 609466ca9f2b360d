"""Configuration for tortoise's own CLI, used by developers to write migrations:

    FEDGROUP_DATABASE_URL=sqlite:///tmp/mk.sqlite3 \
        tortoise -c fedgroup.storage.tortoise_conf.TORTOISE_ORM makemigrations -n what_changed
"""

import os

from .db import tortoise_config

TORTOISE_ORM = tortoise_config(os.environ.get("FEDGROUP_DATABASE_URL", "sqlite://:memory:"))
