"""An index for the data browser: a word's drawings of one status, newest first.

`/data/<word>` pages through `WHERE word = ? AND status = 'ok' ORDER BY id DESC
LIMIT ? OFFSET ?`; with (word, status, id) the database walks the index in page order
and never reads or sorts the word's other rows.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_contributions_word_status_id", "contributions", ["word", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_contributions_word_status_id", table_name="contributions")
