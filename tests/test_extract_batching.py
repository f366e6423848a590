"""Pages reach dlt in fewer, larger Arrow items (coalesce.py), and the GC thresholds of a bulk
extraction are raised and restored (gc_tuning.py)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import dlt
import duckdb
import pyarrow as pa
import pytest
from dlt.extract.hints import HintsMeta
from dlt.extract.items import DataItemWithMeta, TableNameMeta

from pipedrive_source.coalesce import Coalescer, coalesced
from pipedrive_source.gc_tuning import BULK_THRESHOLDS, bulk_parsing_gc


def _page(start: int, n: int, **extra: list) -> pa.Table:
    return pa.table({"id": list(range(start, start + n)), **extra})


def _named(tbl: pa.Table, name: str) -> DataItemWithMeta:
    return dlt.mark.with_table_name(tbl, name)


def test_consecutive_pages_of_a_table_merge_up_to_max_rows() -> None:
    items = [_named(_page(i * 10, 10), "deals") for i in range(5)]
    out = list(coalesced(items, max_rows=25))
    assert [o.data.num_rows for o in out] == [30, 20]
    assert all(isinstance(o.meta, TableNameMeta) and o.meta.table_name == "deals" for o in out)
    assert pa.concat_tables([o.data for o in out]).column("id").to_pylist() == list(range(50))


def test_tables_are_buffered_separately_and_all_flushed_at_the_end() -> None:
    items = [_named(_page(0, 3), "persons"), _named(_page(100, 2), "person_emails"),
             _named(_page(3, 3), "persons")]
    out = list(coalesced(items, max_rows=1000))
    by_table = {o.meta.table_name: o.data.column("id").to_pylist() for o in out}
    assert by_table == {"persons": [0, 1, 2, 3, 4, 5], "person_emails": [100, 101]}


def test_a_hints_item_goes_out_after_everything_held_before_it() -> None:
    hinted = dlt.mark.with_hints(_page(500, 1), dlt.mark.make_hints(table_name="deal_products"),
                                 create_table_variant=True)
    buffer = Coalescer(max_rows=1000)
    assert list(buffer.feed(_named(_page(0, 2), "deals"))) == []
    out = list(buffer.feed(hinted))
    assert [o.meta.__class__ for o in out] == [TableNameMeta, HintsMeta]
    assert out[0].data.column("id").to_pylist() == [0, 1]
    assert list(buffer.flush_all()) == []


def test_a_column_that_appears_on_a_later_page_is_null_on_earlier_rows() -> None:
    items = [_named(_page(0, 2), "deals"), _named(_page(2, 1, label=["vip"]), "deals")]
    (out,) = list(coalesced(items))
    assert out.data.column("label").to_pylist() == [None, None, "vip"]


def test_pages_whose_schemas_do_not_unify_are_passed_on_one_by_one() -> None:
    items = [_named(_page(0, 2, v=[1, 2]), "deals"), _named(_page(2, 1, v=["x"]), "deals")]
    out = list(coalesced(items))
    assert [o.data.column("v").to_pylist() for o in out] == [[1, 2], ["x"]]


def test_other_items_pass_through_unchanged() -> None:
    rows = [{"id": 1}]
    out = list(coalesced([rows, _named(_page(0, 1), "deals"), "x"]))
    assert out[0] is rows and out[2] == "x" and out[1].data.num_rows == 1


def test_coalesced_pages_load_every_row_into_duckdb(tmp_path: Path) -> None:
    """Through a real dlt pipeline: 40 pages of 25 rows arrive as 1,000 distinct rows."""

    @dlt.resource(name="deals", primary_key="id", write_disposition="merge")
    def deals():
        yield from coalesced((_named(_page(i * 25, 25), "deals") for i in range(40)), max_rows=300)

    db = tmp_path / "batch.duckdb"
    pipeline = dlt.pipeline("batching", destination=dlt.destinations.duckdb(str(db)),
                            pipelines_dir=str(tmp_path / "dlt"), dataset_name="crm")
    pipeline.run(deals(), loader_file_format="parquet")
    with duckdb.connect(str(db)) as con:
        assert con.execute("select count(*), count(distinct id), min(id), max(id) from crm.deals").fetchone() \
            == (1000, 1000, 0, 999)


# ---- gc thresholds ------------------------------------------------------------------------------


@pytest.fixture
def default_gc():
    saved, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.enable()
    yield
    gc.set_threshold(*saved)
    (gc.enable if enabled else gc.disable)()


def test_thresholds_are_raised_while_extracting_and_restored_after(default_gc) -> None:
    with bulk_parsing_gc():
        assert gc.get_threshold() == BULK_THRESHOLDS
    assert gc.get_threshold() == (700, 10, 10)


def test_concurrent_resources_restore_only_when_the_last_one_finishes(default_gc) -> None:
    first_in, second_done, seen = threading.Event(), threading.Event(), []

    def first() -> None:
        with bulk_parsing_gc():
            first_in.set()
            second_done.wait(10)
            seen.append(gc.get_threshold())

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(10)
    with bulk_parsing_gc():
        pass
    second_done.set()
    t.join(10)
    assert seen == [BULK_THRESHOLDS]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_or_a_disabled_collector_is_left_alone(default_gc) -> None:
    gc.set_threshold(50_000, 20, 20)
    with bulk_parsing_gc():
        assert gc.get_threshold() == (50_000, 20, 20)
    gc.set_threshold(700, 10, 10)
    gc.disable()
    with bulk_parsing_gc():
        assert gc.get_threshold() == (700, 10, 10) and not gc.isenabled()
    assert gc.get_threshold() == (700, 10, 10)
