"""The contributions table: Google's Quick, Draw! fields, the simplified drawing,
an anonymous contributor id and a moderation status.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=20), nullable=False),
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("countrycode", sa.String(length=2), nullable=False),
        sa.Column("timestamp", sa.String(length=40), nullable=False),
        sa.Column("recognized", sa.Boolean(), nullable=False),
        sa.Column("drawing", sa.Text(), nullable=False),
        sa.Column("simplified", sa.Text(), nullable=False),
        sa.Column("contributor", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_index("ix_contributions_word_id", "contributions", ["word", "id"])
    op.create_index("ix_contributions_contributor", "contributions", ["contributor"])


def downgrade() -> None:
    op.drop_index("ix_contributions_contributor", table_name="contributions")
    op.drop_index("ix_contributions_word_id", table_name="contributions")
    op.drop_table("contributions")
