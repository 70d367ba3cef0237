"""strategy library: versions, sources, bots pinning a version

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:00:00.000000
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core_server.core.database


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('strategy_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('branch', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('token', sa.Text(), nullable=True),
    sa.Column('last_commit', sa.String(length=64), nullable=True),
    sa.Column('last_synced_at', core_server.core.database.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core_server.core.database.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core_server.core.database.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_strategy_sources_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_sources')),
    sa.UniqueConstraint('owner_id', 'url', 'branch', 'path', name='uq_strategy_sources_location')
    )
    with op.batch_alter_table('strategy_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_strategy_sources_owner_id'), ['owner_id'], unique=False)

    op.create_table('strategy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('strategy_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('class_name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('code_sha256', sa.String(length=64), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('created_at', core_server.core.database.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_strategy_versions_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['strategy_id'], ['strategies.id'], name=op.f('fk_strategy_versions_strategy_id_strategies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_versions')),
    sa.UniqueConstraint('strategy_id', 'number', name='uq_strategy_versions_strategy_number')
    )

    with op.batch_alter_table('strategies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('source_path', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_strategies_source_id'), ['source_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_strategies_source_id_strategy_sources'), 'strategy_sources', ['source_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('strategy_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('strategy_version', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_bots_strategy_version_id'), ['strategy_version_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_bots_strategy_version_id_strategy_versions'), 'strategy_versions', ['strategy_version_id'], ['id'])

    _first_versions()


def _first_versions() -> None:
    """Strategies stored before versions existed become version 1 of themselves (their
    `version` held the seed's free text, such as '1.0.0'; it now counts versions)."""
    connection = op.get_bind()
    strategies = sa.table(
        'strategies',
        sa.column('id', sa.Integer()),
        sa.column('name', sa.String()),
        sa.column('code', sa.Text()),
        sa.column('parameters', sa.JSON()),
        sa.column('version', sa.String()),
        sa.column('created_by', sa.Integer()),
        sa.column('created_at', core_server.core.database.UtcDateTime(timezone=True)),
    )
    versions = sa.table(
        'strategy_versions',
        sa.column('strategy_id', sa.Integer()),
        sa.column('number', sa.Integer()),
        sa.column('class_name', sa.String()),
        sa.column('code', sa.Text()),
        sa.column('code_sha256', sa.String()),
        sa.column('parameters', sa.JSON()),
        sa.column('origin', sa.String()),
        sa.column('message', sa.String()),
        sa.column('created_at', core_server.core.database.UtcDateTime(timezone=True)),
        sa.column('created_by', sa.Integer()),
    )
    rows = connection.execute(sa.select(strategies)).mappings().all()
    for row in rows:
        connection.execute(
            versions.insert().values(
                strategy_id=row['id'],
                number=1,
                class_name=row['name'],
                code=row['code'],
                code_sha256=hashlib.sha256(row['code'].encode()).hexdigest(),
                parameters=row['parameters'] or {},
                origin='api',
                message=f"Stored before versions, as version '{row['version']}'",
                created_at=row['created_at'],
                created_by=row['created_by'],
            )
        )
    if rows:
        connection.execute(strategies.update().values(version='1'))


def downgrade() -> None:
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_bots_strategy_version_id_strategy_versions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_bots_strategy_version_id'))
        batch_op.drop_column('strategy_version')
        batch_op.drop_column('strategy_version_id')

    with op.batch_alter_table('strategies', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_strategies_source_id_strategy_sources'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_strategies_source_id'))
        batch_op.drop_column('source_path')
        batch_op.drop_column('source_id')

    op.drop_table('strategy_versions')
    with op.batch_alter_table('strategy_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_strategy_sources_owner_id'))

    op.drop_table('strategy_sources')
