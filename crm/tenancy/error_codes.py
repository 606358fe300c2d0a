"""Stable codes of the platform's brand management, with their text in both languages."""

from crm.errors import ErrorText, error_texts_register

BRAND_INVALID = "brand_invalid"
BRAND_CONFLICT = "brand_conflict"  # the same slug or domain being created at the same moment
DOMAIN_TAKEN = "domain_taken"
SLUG_TAKEN = "slug_taken"
WRONG_SCHEMA = "wrong_schema"  # brands are created from the platform (public schema) only
# Cells (cells.py) and moving a brand between them (moves.py).
BRAND_UNKNOWN = "brand_unknown"
BRAND_NOT_READY = "brand_not_ready"
BRAND_READ_ONLY = "brand_read_only"  # being moved: reads only
BRAND_IN_OTHER_CELL = "brand_in_other_cell"
BRAND_MOVE_SAME_CELL = "brand_move_same_cell"
BRAND_MOVE_ROWS = "brand_move_rows"  # the copy's row counts differ from the original's
BRAND_MOVE_COPY = "brand_move_copy"  # pg_dump / pg_restore failed or are missing
BRAND_MOVE_LEFTOVER = "brand_move_leftover"  # the target cell has a schema of that name already
CELL_UNKNOWN = "cell_unknown"
CELL_FULL = "cell_full"
CELLS_FULL = "cells_full"
CITUS_IN_TRANSACTION = "citus_in_transaction"  # citus_schema_distribute() runs outside a transaction
CITUS_CLONE = "citus_clone"  # BRAND_SCHEMA_CREATION=clone on a Citus cell: the brand would stay on the coordinator
CITUS_NOT_DISTRIBUTED = "citus_not_distributed"  # tables of a distributed brand schema left on the coordinator

TEXTS: dict[str, ErrorText] = {
    BRAND_INVALID: ErrorText("品牌信息有误，请修改后重试。", "The brand's details are invalid."),
    BRAND_CONFLICT: ErrorText(
        "该品牌标识或域名正被同时创建，请稍后重试。", "This slug or domain is being created right now; retry later."
    ),
    DOMAIN_TAKEN: ErrorText("该域名已被其他品牌使用。", "The domain belongs to another brand."),
    SLUG_TAKEN: ErrorText("该品牌标识已被使用。", "The slug is taken."),
    WRONG_SCHEMA: ErrorText(
        "只能在平台（public）环境中创建品牌。", "Brands are created from the platform (public schema) only."
    ),
    BRAND_UNKNOWN: ErrorText("品牌不存在。", "No such brand."),
    BRAND_NOT_READY: ErrorText("品牌尚未创建完成。", "The brand is not set up yet."),
    BRAND_READ_ONLY: ErrorText(
        "该品牌正在迁移数据，暂时只能查看、不能修改，请几分钟后再试。",
        "The brand is being moved: read only for a few minutes; retry later.",
    ),
    BRAND_IN_OTHER_CELL: ErrorText(
        "该品牌在另一个单元中，迁移请用 move_brand。", "The brand lives in another cell; move it with move_brand."
    ),
    BRAND_MOVE_SAME_CELL: ErrorText("品牌已经在该单元中。", "The brand is in that cell already."),
    BRAND_MOVE_ROWS: ErrorText("迁移后行数不一致。", "The copy's row counts differ from the original's."),
    BRAND_MOVE_COPY: ErrorText("复制品牌数据失败。", "Copying the brand's data failed."),
    BRAND_MOVE_LEFTOVER: ErrorText(
        "目标单元中已有同名的 schema（可能是上次失败的迁移留下的），请核对后手动删除。",
        "The target cell has a schema of that name (a failed move's leftover?); check and drop it.",
    ),
    CELL_UNKNOWN: ErrorText("没有这个单元（cell）。", "No such cell."),
    CELL_FULL: ErrorText("该单元的品牌数已达上限。", "The cell holds as many brands as it may."),
    CELLS_FULL: ErrorText(
        "所有单元的品牌数都已达到上限，请先增加一个单元再创建品牌。",
        "Every cell is full; add a cell before creating a brand.",
    ),
    CITUS_IN_TRANSACTION: ErrorText(
        "分布品牌 schema 须在事务之外执行。", "Distributing a brand's schema must run outside a transaction."
    ),
    CITUS_CLONE: ErrorText(
        "该单元是 Citus 集群：品牌 schema 须以 migrate 或 clone_distribute 方式创建（BRAND_SCHEMA_CREATION）。",
        "This cell is a Citus cluster: set BRAND_SCHEMA_CREATION to migrate or clone_distribute.",
    ),
    CITUS_NOT_DISTRIBUTED: ErrorText(
        "品牌 schema 中有表未分布到 Citus 工作节点。",
        "Tables of the brand's schema were left on the Citus coordinator.",
    ),
}
error_texts_register(TEXTS)
