"""story items keep the bitmap of their shingle ids

Revision ID: 0006
Revises: '0005'
Create Date: 2026-11-23 12:00:00

Items stored before get theirs from their stored shingle ids, so that candidates stored before the
upgrade are passed over on their bitmap like the new ones (``monitor.cluster.best_story``).
"""

import struct

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# As monitor.cluster.shingle_bits wrote it when this revision was made (bit id % 512, 64 bytes).
_BITS = 512
_BATCH = 2_000


def _bits(data: bytes) -> bytes:
    bits = 0
    for shingle in struct.unpack(f"<{len(data) // 4}I", data):
        bits |= 1 << (shingle % _BITS)
    return bits.to_bytes(_BITS // 8, "little")


def upgrade() -> None:
    with op.batch_alter_table("story_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shingle_bits", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    items = sa.table(
        "story_items",
        sa.column("item_id", sa.Integer()),
        sa.column("shingle_ids", sa.LargeBinary()),
        sa.column("shingle_bits", sa.LargeBinary()),
    )
    update = (
        sa.update(items).where(items.c.item_id == sa.bindparam("b_item")).values(shingle_bits=sa.bindparam("b_bits"))
    )
    last = 0
    while True:  # in batches by item id: a large store is not read into memory at once
        rows = connection.execute(
            sa.select(items.c.item_id, items.c.shingle_ids)
            .where(items.c.item_id > last, items.c.shingle_ids.is_not(None))
            .order_by(items.c.item_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        filled = [{"b_item": item_id, "b_bits": _bits(data)} for item_id, data in rows if data]
        if filled:
            connection.execute(update, filled)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("story_items", schema=None) as batch_op:
        batch_op.drop_column("shingle_bits")
