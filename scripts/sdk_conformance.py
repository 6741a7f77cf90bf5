#!/usr/bin/env python3
"""Drives a running ragd with the real Python SDK `dify-dataset-sdk==0.6.3`, unpatched, through its public
client API only: datasets, documents (by text and by file, update, status, delete), indexing status,
retrieval with every search method, metadata fields and filters, segments and child chunks.

Prints one line per step and exits non-zero at the first failure, naming the step and what was expected.

    target/sdk-venv/bin/python scripts/sdk_conformance.py \
        --base-url http://127.0.0.1:PORT --api-key dataset-... --fixtures fixtures/docs

`--base-url` is the server root, without `/v1` (the SDK appends `/v1/...` itself).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

try:
    import dify_dataset_sdk
    from dify_dataset_sdk import (
        DifyAPIError,
        DifyAuthenticationError,
        DifyDatasetClient,
        DifyNotFoundError,
        MetadataCondition,
        MetadataFilteringConditions,
        PreProcessingRule,
        ProcessRule,
        ProcessRuleConfig,
        RetrievalModel,
        RetrievalResponse,
        Segmentation,
        SubchunkSegmentation,
        WeightModel,
    )
except ImportError as e:  # pragma: no cover - environment problem, not a conformance failure
    print(f"FAIL setup: dify-dataset-sdk is not importable ({e}); run scripts/sdk_venv.sh", file=sys.stderr)
    sys.exit(2)

SDK_VERSION = "0.6.3"

# Three paragraphs on invented subjects with rare words, so that every search method has exactly one
# right answer, and none of it overlaps the fixture files (beekeeping, RAG notes, ...).
PARAGRAPHS = [
    "The Vrellmoor lighthouse keepers feed the quokka colony with kelp biscuits every solstice morning, "
    "and the quokkas queue along the granite causeway long before the lamp is dimmed.",
    "The Zantheric glassworks melts cobalt sand in a peat-fired furnace to make deep blue telescope "
    "lenses; apprentices polish each lens for forty days with powdered pumice.",
    "Marsh-ferry pilots on the Ostrevant delta navigate by the croaking of bittern birds when fog "
    "hides the reed channels, a skill passed down through seven generations.",
]
TEXT = "\n\n".join(PARAGRAPHS)
TEXT_V2 = (
    "The Plimsquoth observatory catalogues comet dust in amber resin jars, and its archivists label "
    "every jar with the date, the comet and the colour of the dust.\n\n"
    "Snow-leopard trackers of the Kharvel ridge count pawprints at dawn and report them to the ranger "
    "station by carrier pigeon."
)

METHODS = ["semantic_search", "full_text_search", "keyword_search", "hybrid_search"]
INDEXING_TIMEOUT_S = 180.0


class Failure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


class Run:
    def __init__(self, client: DifyDatasetClient, base_url: str, api_key: str, fixtures: Path) -> None:
        self.client = client
        self.base_url = base_url
        self.api_key = api_key
        self.fixtures = fixtures
        self.steps = 0
        self.dataset_id = ""
        self.parent_dataset_id = ""
        self.text_doc = ""
        self.file_doc = ""
        self.file_name = ""
        self.fields: Dict[str, str] = {}

    # ----- helpers -------------------------------------------------------------------------------------

    def step(self, name: str, fn: Callable[[], Optional[str]]) -> None:
        self.steps += 1
        started = time.monotonic()
        try:
            detail = fn()
        except Failure as e:
            raise Failure(f"step {self.steps} '{name}': {e}") from None
        except DifyAPIError as e:
            raise Failure(
                f"step {self.steps} '{name}': SDK raised {type(e).__name__}: {e} "
                f"(status {e.status_code}, code {e.error_code})"
            ) from e
        except Exception as e:  # pydantic ValidationError, KeyError, ...: a response the SDK cannot take
            raise Failure(
                f"step {self.steps} '{name}': {type(e).__name__}: {e}\n{traceback.format_exc()}"
            ) from e
        ms = (time.monotonic() - started) * 1000
        print(f"ok   {self.steps:2d} {name} ({ms:.0f} ms){': ' + detail if detail else ''}", flush=True)

    def wait_indexed(self, dataset_id: str, batch: str) -> str:
        deadline = time.monotonic() + INDEXING_TIMEOUT_S
        seen: List[str] = []
        while True:
            status = self.client.documents.get_indexing_status(dataset_id, batch)
            check(len(status.data) >= 1, f"indexing-status of batch {batch} has no entries")
            states = [s.indexing_status for s in status.data]
            if not seen or seen[-1] != ",".join(states):
                seen.append(",".join(states))
            errors = [s for s in status.data if s.indexing_status == "error"]
            check(not errors, f"indexing failed: {[(s.id, s.error) for s in errors]}")
            if all(s == "completed" for s in states):
                for s in status.data:
                    check(s.total_segments > 0, f"document {s.id} completed with no segments")
                    check(
                        s.completed_segments == s.total_segments,
                        f"document {s.id} completed with {s.completed_segments}/{s.total_segments} segments",
                    )
                    check(s.completed_at is not None, f"document {s.id} completed without completed_at")
                return f"{' -> '.join(seen)}; {sum(s.total_segments for s in status.data)} segments"
            check(time.monotonic() < deadline, f"batch {batch} not completed after {INDEXING_TIMEOUT_S}s: {states}")
            time.sleep(0.2)

    def retrieve(
        self,
        query: str,
        method: str = "semantic_search",
        top_k: int = 5,
        filters: Optional[MetadataFilteringConditions] = None,
        dataset_id: Optional[str] = None,
        **extra: Any,
    ) -> RetrievalResponse:
        model = RetrievalModel(
            search_method=method,  # type: ignore[arg-type]
            reranking_enable=False,
            top_k=top_k,
            score_threshold_enabled=extra.pop("score_threshold_enabled", False),
            score_threshold=extra.pop("score_threshold", None),
            metadata_filtering_conditions=filters,
            **extra,
        )
        response = self.client.datasets.retrieve(dataset_id or self.dataset_id, query, retrieval_model=model)
        check(
            response.query.content == query,
            f"query.content is {response.query.content!r}, expected {query!r}",
        )
        scores = [r.score for r in response.records]
        check(all(s is not None and 0.0 <= s <= 1.0 for s in scores), f"{method}: scores outside [0, 1]: {scores}")
        check(all(a >= b for a, b in zip(scores, scores[1:])), f"{method}: records not sorted by score: {scores}")
        check(len(response.records) <= top_k, f"{method}: {len(response.records)} records for top_k {top_k}")
        return response

    @staticmethod
    def doc_ids(response: RetrievalResponse) -> List[str]:
        return [r.segment.document_id for r in response.records]

    def segments_of(self, document_id: str) -> List[Any]:
        return self.client.segments.list(self.dataset_id, document_id, limit=100).data

    @staticmethod
    def where(name: str, op: str, value: Any, logical: str = "and") -> MetadataFilteringConditions:
        return MetadataFilteringConditions(
            logical_operator=logical,  # type: ignore[arg-type]
            conditions=[MetadataCondition(name=name, comparison_operator=op, value=value)],  # type: ignore[arg-type]
        )

    # ----- the steps -----------------------------------------------------------------------------------

    def run(self) -> None:
        c = self.client
        name = f"sdk-conformance-{uuid.uuid4().hex[:8]}"

        def sdk_version() -> str:
            check(dify_dataset_sdk.__version__ == SDK_VERSION, f"SDK is {dify_dataset_sdk.__version__}")
            return f"dify-dataset-sdk {dify_dataset_sdk.__version__}, base URL {self.base_url}"

        self.step("SDK version", sdk_version)

        def bad_key() -> str:
            with DifyDatasetClient(api_key="dataset-not-a-real-key", base_url=self.base_url) as bad:
                try:
                    bad.datasets.list()
                except DifyAuthenticationError as e:
                    check(e.status_code == 401, f"status {e.status_code}")
                    return "401 DifyAuthenticationError"
            raise Failure("an unknown API key was accepted")

        self.step("unknown key is refused", bad_key)

        # --- datasets ---
        def create_dataset() -> str:
            d = c.datasets.create(
                name=name, description="created by the SDK conformance test", indexing_technique="high_quality"
            )
            check(d.name == name, f"name {d.name!r}")
            check(d.indexing_technique == "high_quality", f"indexing_technique {d.indexing_technique!r}")
            check(d.document_count == 0, f"document_count {d.document_count}")
            self.dataset_id = d.id
            return d.id

        self.step("datasets.create", create_dataset)

        def duplicate_name() -> str:
            try:
                c.datasets.create(name=name)
            except dify_dataset_sdk.DifyConflictError as e:
                check(e.error_code == "dataset_name_duplicate", f"code {e.error_code}")
                return "409 dataset_name_duplicate"
            raise Failure("a second dataset with the same name was created")

        self.step("datasets.create duplicate name -> 409", duplicate_name)

        def get_and_list_dataset() -> str:
            d = c.datasets.get(self.dataset_id)
            check(d.id == self.dataset_id and d.name == name, f"got {d.id} {d.name!r}")
            page = c.datasets.list(keyword=name)
            ids = [item["id"] for item in page.data]
            check(self.dataset_id in ids, f"datasets.list(keyword) ids {ids}")
            check(page.page == 1 and page.limit == 20 and page.total >= 1, f"page {page.page} limit {page.limit} total {page.total}")
            return f"list total {page.total}"

        self.step("datasets.get / datasets.list", get_and_list_dataset)

        def update_dataset() -> str:
            d = c.datasets.update(self.dataset_id, description="updated by the SDK")
            check(d.description == "updated by the SDK", f"description {d.description!r}")
            check(c.datasets.get(self.dataset_id).description == "updated by the SDK", "update not visible on get")
            return ""

        self.step("datasets.update", update_dataset)

        # --- documents ---
        def create_by_text() -> str:
            rule = ProcessRule(
                mode="custom",
                rules=ProcessRuleConfig(
                    pre_processing_rules=[
                        PreProcessingRule(id="remove_extra_spaces", enabled=True),
                        PreProcessingRule(id="remove_urls_emails", enabled=False),
                    ],
                    segmentation=Segmentation(separator="\n\n", max_tokens=200),
                ),
            )
            r = c.documents.create_by_text(self.dataset_id, name="vrellmoor.txt", text=TEXT, process_rule=rule)
            check(r.document.name == "vrellmoor.txt", f"name {r.document.name!r}")
            check(r.document.created_from == "api", f"created_from {r.document.created_from!r}")
            check(bool(r.batch), "no batch")
            self.text_doc = r.document.id
            return f"document {r.document.id}, batch {r.batch}: " + self.wait_indexed(self.dataset_id, r.batch)

        self.step("documents.create_by_text + indexing status -> completed", create_by_text)

        def create_by_file() -> str:
            path = self.fixtures / "guide.txt"
            check(path.is_file(), f"fixture {path} is missing")
            # No process rule: the dataset's latest (the by-text document's) applies, as in Dify.
            r = c.documents.create_by_file(self.dataset_id, path)
            check(r.document.name == "guide.txt", f"name {r.document.name!r}")
            check(r.document.data_source_type == "upload_file", f"data_source_type {r.document.data_source_type!r}")
            self.file_doc = r.document.id
            self.file_name = "guide.txt"
            return f"document {r.document.id}: " + self.wait_indexed(self.dataset_id, r.batch)

        self.step("documents.create_by_file (guide.txt) + indexing status -> completed", create_by_file)

        def get_and_list_documents() -> str:
            d = c.documents.get(self.dataset_id, self.text_doc)
            check(d.indexing_status == "completed", f"indexing_status {d.indexing_status!r}")
            check(d.display_status == "available", f"display_status {d.display_status!r}")
            check(d.enabled and not d.archived, f"enabled {d.enabled} archived {d.archived}")
            check(d.doc_form == "text_model", f"doc_form {d.doc_form!r}")
            page = c.documents.list(self.dataset_id)
            ids = {item["id"] for item in page.data}
            check(ids == {self.text_doc, self.file_doc}, f"documents.list ids {ids}")
            check(page.total == 2 and not page.has_more, f"total {page.total} has_more {page.has_more}")
            page = c.documents.list(self.dataset_id, keyword="guide")
            check([item["id"] for item in page.data] == [self.file_doc], f"keyword 'guide' -> {page.data}")
            d = c.datasets.get(self.dataset_id)
            check(d.document_count == 2, f"dataset document_count {d.document_count}")
            return f"{page.total} match keyword"

        self.step("documents.get / documents.list", get_and_list_documents)

        # --- retrieval, every method ---
        def retrieve_each_method() -> str:
            out = []
            for method in METHODS:
                extra: Dict[str, Any] = {}
                if method == "hybrid_search":
                    extra["reranking_mode"] = "weighted_score"
                    extra["weights"] = WeightModel(
                        weight_type="customized",
                        vector_setting={"vector_weight": 0.7, "embedding_provider_name": "", "embedding_model_name": ""},
                        keyword_setting={"keyword_weight": 0.3},
                    )
                r = self.retrieve("quokka colony kelp biscuits at the lighthouse", method, top_k=3, **extra)
                check(r.records, f"{method}: no records")
                top = r.records[0].segment
                check(top.document_id == self.text_doc, f"{method}: top record is from {top.document_id}, not the text document")
                check("quokka" in (top.content or ""), f"{method}: top segment is {top.content!r}")
                check(top.document is not None and top.document.name == "vrellmoor.txt", f"{method}: document {top.document}")
                r2 = self.retrieve("how do honey bees keep warm in winter", method, top_k=3, **extra)
                check(r2.records, f"{method}: no records for the beekeeping query")
                check(
                    r2.records[0].segment.document_id == self.file_doc,
                    f"{method}: beekeeping query's top record is from {r2.records[0].segment.document_id}",
                )
                out.append(f"{method} {r.records[0].score:.3f}")
            return ", ".join(out)

        self.step("datasets.retrieve: semantic, full-text, keyword, hybrid", retrieve_each_method)

        def retrieve_threshold() -> str:
            r = self.retrieve(
                "quokka colony kelp biscuits", "semantic_search", top_k=10,
                score_threshold_enabled=True, score_threshold=0.99,
            )
            check(all((x.score or 0) >= 0.99 for x in r.records), f"records under the threshold: {[x.score for x in r.records]}")
            above = len(r.records)
            r = self.retrieve("glassworks cobalt telescope lenses", "full_text_search", top_k=1)
            check(len(r.records) == 1 and "Zantheric" in (r.records[0].segment.content or ""), f"top_k 1: {r.records}")
            return f"threshold 0.99 -> {above} records"

        self.step("datasets.retrieve: score threshold and top_k", retrieve_threshold)

        def stored_retrieval_model() -> str:
            # A retrieve without retrieval_model runs with the dataset's stored one (set here through
            # datasets.update). The SDK's Dataset has no retrieval_model_dict, so only behaviour shows it.
            stored = RetrievalModel(
                search_method="full_text_search", reranking_enable=False, top_k=1, score_threshold_enabled=False
            )
            c.datasets.update(self.dataset_id, retrieval_model=stored)
            r = c.datasets.retrieve(self.dataset_id, "glassworks cobalt telescope lenses")
            check(len(r.records) == 1, f"stored top_k 1, got {len(r.records)} records")
            check("Zantheric" in (r.records[0].segment.content or ""), f"top record {r.records[0].segment.content!r}")
            # No query term in common: full-text search finds nothing, where semantic search would.
            r = c.datasets.retrieve(self.dataset_id, "optics")
            check(not r.records, f"stored full_text_search still answered {[x.segment.content for x in r.records]}")
            default = RetrievalModel(
                search_method="semantic_search", reranking_enable=False, top_k=4, score_threshold_enabled=False
            )
            c.datasets.update(self.dataset_id, retrieval_model=default)
            r = c.datasets.retrieve(self.dataset_id, "optics")
            check(len(r.records) == 4, f"stored semantic top_k 4, got {len(r.records)} records")
            return ""

        self.step("datasets.update retrieval_model applies to retrieve without one", stored_retrieval_model)

        # --- metadata ---
        def metadata_fields() -> str:
            for field_type, field_name in [("string", "category"), ("number", "year"), ("string", "scratch")]:
                m = c.metadata.create(self.dataset_id, field_type, field_name)
                check(m.name == field_name and m.type == field_type, f"created {m}")
                self.fields[field_name] = m.id
            renamed = c.metadata.update(self.dataset_id, self.fields["scratch"], "scratch_renamed")
            check(renamed.name == "scratch_renamed", f"renamed {renamed}")
            deleted = c.metadata.delete(self.dataset_id, self.fields.pop("scratch"))
            check(deleted == {"status": "success"}, f"delete answered {deleted}")
            listed = c.metadata.list(self.dataset_id)
            names = sorted(m.name for m in listed.doc_metadata)
            check(names == ["category", "year"], f"metadata.list names {names}")
            return f"fields {names}, built_in_field_enabled {listed.built_in_field_enabled}"

        self.step("metadata.create / update / delete / list", metadata_fields)

        def set_document_metadata() -> str:
            result = c.metadata.update_document_metadata(
                self.dataset_id,
                [
                    {
                        "document_id": self.text_doc,
                        "metadata_list": [
                            {"id": self.fields["category"], "name": "category", "value": "lighthouse"},
                            # The SDK types every value as a string, numbers included.
                            {"id": self.fields["year"], "name": "year", "value": "2024"},
                        ],
                    },
                    {
                        "document_id": self.file_doc,
                        "metadata_list": [
                            {"id": self.fields["category"], "name": "category", "value": "apiculture"},
                            {"id": self.fields["year"], "name": "year", "value": "1999"},
                        ],
                    },
                ],
            )
            check(result.get("result") == "success", f"answered {result}")
            r = self.retrieve("quokka colony kelp biscuits", "semantic_search", top_k=1)
            meta = r.records[0].segment.document.doc_metadata if r.records[0].segment.document else None
            check(isinstance(meta, dict) and meta.get("category") == "lighthouse", f"record doc_metadata {meta}")
            return f"record doc_metadata {meta}"

        self.step("metadata.update_document_metadata", set_document_metadata)

        def metadata_filters() -> str:
            q = "quokka colony kelp biscuits at the lighthouse"
            cases = [
                (self.where("category", "is", "apiculture"), {self.file_doc}),
                (self.where("category", "is", "lighthouse"), {self.text_doc}),
                (self.where("category", "is not", "lighthouse"), {self.file_doc}),
                (self.where("year", "!=", 2024), {self.file_doc}),  # ASCII spelling of ≠, which the SDK allows
                (self.where("year", "\u2265", 2024), {self.text_doc}),
                (self.where("category", "start with", "light"), {self.text_doc}),
                (self.where("category", "contains", "icult"), {self.file_doc}),
                (self.where("year", ">", 2000), {self.text_doc}),
                (self.where("year", "<=", 1999), {self.file_doc}),
                (self.where("category", "is", "no-such-category"), set()),
                (
                    MetadataFilteringConditions(
                        logical_operator="or",
                        conditions=[
                            MetadataCondition(name="category", comparison_operator="is", value="apiculture"),
                            MetadataCondition(name="year", comparison_operator="=", value=2024),
                        ],
                    ),
                    {self.text_doc, self.file_doc},
                ),
            ]
            out = []
            for conditions, expected in cases:
                cond = conditions.conditions[0]
                for method in ("semantic_search", "full_text_search", "hybrid_search"):
                    r = self.retrieve(q, method, top_k=10, filters=conditions)
                    got = set(self.doc_ids(r))
                    label = " / ".join(f"{x.name} {x.comparison_operator} {x.value!r}" for x in conditions.conditions)
                    if method == "full_text_search":
                        # BM25 only returns documents that share a term with the query.
                        check(got <= expected, f"{method} [{conditions.logical_operator}: {label}] -> {got}, expected within {expected}")
                    else:
                        check(got == expected, f"{method} [{conditions.logical_operator}: {label}] -> documents {got}, expected {expected}")
                out.append(f"{cond.name} {cond.comparison_operator} {cond.value!r}")
            return f"{len(out)} filters"

        self.step("datasets.retrieve with metadata filters", metadata_filters)

        def built_in_fields() -> str:
            result = c.metadata.toggle_built_in(self.dataset_id, "enable")
            check(result.get("result") == "success", f"enable answered {result}")
            check(c.metadata.list(self.dataset_id).built_in_field_enabled, "built_in_field_enabled is still false")
            r = self.retrieve(
                "quokka colony kelp biscuits at the lighthouse", "semantic_search", top_k=10,
                filters=self.where("document_name", "is", "guide.txt"),
            )
            check(set(self.doc_ids(r)) == {self.file_doc}, f"document_name is guide.txt -> {set(self.doc_ids(r))}")
            result = c.metadata.toggle_built_in(self.dataset_id, "disable")
            check(result.get("result") == "success", f"disable answered {result}")
            check(not c.metadata.list(self.dataset_id).built_in_field_enabled, "built_in_field_enabled is still true")
            return ""

        self.step("metadata.toggle_built_in + document_name filter", built_in_fields)

        # --- segments ---
        state: Dict[str, Any] = {}

        def list_segments() -> str:
            segments = self.segments_of(self.text_doc)
            check(len(segments) == 3, f"{len(segments)} segments, expected one per paragraph: {[s.content for s in segments]}")
            check([s.position for s in segments] == [1, 2, 3], f"positions {[s.position for s in segments]}")
            for s, paragraph in zip(segments, PARAGRAPHS):
                check(s.content.strip() == paragraph, f"segment {s.position} is {s.content!r}")
                check(s.status == "completed" and s.enabled, f"segment {s.position}: {s.status} enabled {s.enabled}")
                check(s.document_id == self.text_doc, f"segment document_id {s.document_id}")
            state["segments"] = segments
            one = c.segments.get(self.dataset_id, self.text_doc, segments[0].id)
            check(one["data"]["id"] == segments[0].id, f"segments.get answered {one}")
            filtered = c.segments.list(self.dataset_id, self.text_doc, keyword="cobalt").data
            check([s.id for s in filtered] == [segments[1].id], f"keyword 'cobalt' -> {[s.content for s in filtered]}")
            return f"{len(segments)} segments"

        self.step("segments.list / segments.get", list_segments)

        def update_segment() -> str:
            target = state["segments"][1]
            new = "The Zantheric glassworks now grinds snowglass prisms for the Dunmarrow signal towers."
            answer = c.segments.update(self.dataset_id, self.text_doc, target.id, {"content": new, "keywords": ["snowglass", "prism"]})
            check(answer["data"]["content"] == new, f"update answered {answer['data'].get('content')!r}")
            after = {s.id: s for s in self.segments_of(self.text_doc)}
            check(after[target.id].content == new, f"re-list shows {after[target.id].content!r}")
            r = self.retrieve("snowglass prisms Dunmarrow signal towers", "full_text_search", top_k=3)
            check(r.records and r.records[0].segment.id == target.id, f"full-text of the new content -> {[x.segment.id for x in r.records]}")
            r = self.retrieve("cobalt sand peat-fired furnace pumice", "full_text_search", top_k=3)
            check(target.id not in [x.segment.id for x in r.records], "the old content is still found by full-text search")
            return ""

        self.step("segments.update (content, keywords) visible on re-list and retrieval", update_segment)

        def disable_segment() -> str:
            target = state["segments"][2]
            c.segments.update(self.dataset_id, self.text_doc, target.id, {"content": target.content, "enabled": False})
            after = {s.id: s for s in self.segments_of(self.text_doc)}
            check(after[target.id].enabled is False, "segment still enabled on re-list")
            r = self.retrieve("marsh ferry pilots bittern birds fog", "hybrid_search", top_k=5)
            check(target.id not in [x.segment.id for x in r.records], "a disabled segment is still retrieved")
            c.segments.update(self.dataset_id, self.text_doc, target.id, {"content": target.content, "enabled": True})
            r = self.retrieve("marsh ferry pilots bittern birds fog", "hybrid_search", top_k=5)
            check(r.records and r.records[0].segment.id == target.id, "a re-enabled segment is not retrieved")
            return ""

        self.step("segments.update enabled=false/true", disable_segment)

        def create_segment() -> str:
            answer = c.segments.create(
                self.dataset_id, self.text_doc,
                [{"content": "Quillfeather archivists bind almanacs in walrus leather.", "keywords": ["almanac"]}],
            )
            check(len(answer.data) == 1, f"create answered {len(answer.data)} segments")
            created = answer.data[0]
            check(created.content.startswith("Quillfeather"), f"created {created.content!r}")
            segments = self.segments_of(self.text_doc)
            check(created.id in [s.id for s in segments] and len(segments) == 4, f"re-list has {len(segments)} segments")
            r = self.retrieve("almanacs bound in walrus leather", "semantic_search", top_k=1)
            check(r.records and r.records[0].segment.id == created.id, f"new segment not retrieved: {[x.segment.content for x in r.records]}")
            state["created"] = created.id
            return f"segment {created.id} at position {created.position}"

        self.step("segments.create visible on re-list and retrieval", create_segment)

        def delete_segment() -> str:
            target = state["created"]
            answer = c.segments.delete(self.dataset_id, self.text_doc, target)
            check(answer == {"status": "success"}, f"delete answered {answer}")
            segments = self.segments_of(self.text_doc)
            check(target not in [s.id for s in segments] and len(segments) == 3, f"re-list still has it ({len(segments)} segments)")
            r = self.retrieve("almanacs bound in walrus leather", "hybrid_search", top_k=5)
            check(target not in [x.segment.id for x in r.records], "a deleted segment is still retrieved")
            try:
                c.segments.get(self.dataset_id, self.text_doc, target)
            except DifyNotFoundError:
                return "get -> 404"
            raise Failure("segments.get of a deleted segment did not answer 404")

        self.step("segments.delete gone from re-list and retrieval", delete_segment)

        # --- parent-child dataset: child chunks ---
        def child_chunks() -> str:
            d = c.datasets.create(name=f"{name}-parent-child", indexing_technique="high_quality")
            self.parent_dataset_id = d.id
            # A file upload to a dataset with no process rule yet must carry one (Dify: 400 invalid_param).
            try:
                c.documents.create_by_file(d.id, self.fixtures / "guide.txt")
                raise Failure("create_by_file without a process rule in a new dataset was accepted")
            except dify_dataset_sdk.DifyValidationError as e:
                check(e.status_code == 400 and "process_rule" in e.message, f"{e}")
            rule = ProcessRule(
                mode="hierarchical",
                rules=ProcessRuleConfig(
                    pre_processing_rules=[PreProcessingRule(id="remove_extra_spaces", enabled=True)],
                    segmentation=Segmentation(separator="\n\n", max_tokens=500),
                    parent_mode="paragraph",
                    subchunk_segmentation=SubchunkSegmentation(separator=". ", max_tokens=60),
                ),
            )
            r = c.documents.create_by_text(d.id, name="parents.txt", text=TEXT, doc_form="hierarchical_model", process_rule=rule)
            self.wait_indexed(d.id, r.batch)
            doc = r.document.id
            parents = c.segments.list(d.id, doc).data
            check(len(parents) == 3, f"{len(parents)} parent segments")
            parent = parents[0].id
            children = c.segments.list_child_chunks(d.id, doc, parent).data
            check(len(children) >= 1, "the first parent has no child chunks")
            created = c.segments.create_child_chunk(d.id, doc, parent, "Quokkas also enjoy dandelion leaves.")
            child_id = created["data"]["id"]
            after = c.segments.list_child_chunks(d.id, doc, parent).data
            check(child_id in [x.id for x in after] and len(after) == len(children) + 1, f"{len(after)} child chunks after create")
            updated = c.segments.update_child_chunk(d.id, doc, parent, child_id, "Quokkas also enjoy wild dandelion leaves.")
            check(updated["data"]["content"] == "Quokkas also enjoy wild dandelion leaves.", f"update answered {updated}")
            rr = self.retrieve("wild dandelion leaves", "semantic_search", top_k=1, dataset_id=d.id)
            check(rr.records and rr.records[0].segment.id == parent, "retrieval does not return the parent of the new child chunk")
            check(
                any("dandelion" in ch.content for ch in (rr.records[0].child_chunks or [])),
                f"record child_chunks {rr.records[0].child_chunks}",
            )
            deleted = c.segments.delete_child_chunk(d.id, doc, parent, child_id)
            check(deleted == {"status": "success"}, f"delete answered {deleted}")
            after = c.segments.list_child_chunks(d.id, doc, parent).data
            check(child_id not in [x.id for x in after], "deleted child chunk still listed")
            check(c.datasets.delete(d.id) == {"status": "success"}, "parent-child dataset delete")
            self.parent_dataset_id = ""
            return f"{len(children)} child chunks in the first parent"

        self.step("hierarchical dataset: child chunks create / list / update / delete", child_chunks)

        # --- documents: update, status, delete ---
        def update_by_text() -> str:
            r = c.documents.update_by_text(self.dataset_id, self.text_doc, name="plimsquoth.txt", text=TEXT_V2)
            check(r.document.id == self.text_doc, f"update answered document {r.document.id}")
            progress = self.wait_indexed(self.dataset_id, r.batch)
            d = c.documents.get(self.dataset_id, self.text_doc)
            check(d.name == "plimsquoth.txt", f"name {d.name!r}")
            for method in METHODS:
                rr = self.retrieve("comet dust in amber resin jars", method, top_k=3)
                check(rr.records and rr.records[0].segment.document_id == self.text_doc, f"{method}: new text not found")
            rr = self.retrieve("Vrellmoor quokka kelp biscuits", "full_text_search", top_k=5)
            check(
                all("quokka" not in (x.segment.content or "") for x in rr.records),
                "the replaced text is still retrieved",
            )
            return progress

        self.step("documents.update_by_text re-indexes", update_by_text)

        def update_by_file() -> str:
            path = self.fixtures / "notes.md"
            r = c.documents.update_by_file(self.dataset_id, self.file_doc, path)
            check(r.document.id == self.file_doc, f"update answered document {r.document.id}")
            progress = self.wait_indexed(self.dataset_id, r.batch)
            d = c.documents.get(self.dataset_id, self.file_doc)
            check(d.name == "notes.md", f"name {d.name!r}")
            self.file_name = "notes.md"
            rr = self.retrieve("why split documents into chunks before embedding", "semantic_search", top_k=3)
            check(rr.records and rr.records[0].segment.document_id == self.file_doc, "the new file's text is not found")
            return progress

        self.step("documents.update_by_file (notes.md) re-indexes", update_by_file)

        def document_status() -> str:
            q = "comet dust in amber resin jars"
            answer = c.documents.batch_update_status(self.dataset_id, "disable", [self.text_doc])
            check(answer.get("result") == "success", f"disable answered {answer}")
            d = c.documents.get(self.dataset_id, self.text_doc)
            check(not d.enabled and d.display_status == "disabled", f"enabled {d.enabled} display_status {d.display_status}")
            check(self.text_doc not in self.doc_ids(self.retrieve(q, "hybrid_search", top_k=5)), "a disabled document is retrieved")
            c.documents.batch_update_status(self.dataset_id, "enable", [self.text_doc])
            check(self.doc_ids(self.retrieve(q, "hybrid_search", top_k=5))[:1] == [self.text_doc], "a re-enabled document is not retrieved")
            c.documents.batch_update_status(self.dataset_id, "archive", [self.text_doc])
            d = c.documents.get(self.dataset_id, self.text_doc)
            check(d.archived and d.display_status == "archived", f"archived {d.archived} display_status {d.display_status}")
            check(self.text_doc not in self.doc_ids(self.retrieve(q, "semantic_search", top_k=5)), "an archived document is retrieved")
            c.documents.batch_update_status(self.dataset_id, "un_archive", [self.text_doc])
            check(self.doc_ids(self.retrieve(q, "semantic_search", top_k=5))[:1] == [self.text_doc], "an un-archived document is not retrieved")
            return "disable, enable, archive, un_archive"

        self.step("documents.batch_update_status", document_status)

        def delete_document() -> str:
            answer = c.documents.delete(self.dataset_id, self.file_doc)
            check(answer == {"status": "success"}, f"delete answered {answer}")
            page = c.documents.list(self.dataset_id)
            check([item["id"] for item in page.data] == [self.text_doc] and page.total == 1, f"documents.list after delete: {page.data}")
            try:
                c.documents.get(self.dataset_id, self.file_doc)
                raise Failure("documents.get of a deleted document did not answer 404")
            except DifyNotFoundError:
                pass
            rr = self.retrieve("why split documents into chunks before embedding", "hybrid_search", top_k=10)
            check(self.file_doc not in self.doc_ids(rr), "a deleted document is still retrieved")
            check(c.datasets.get(self.dataset_id).document_count == 1, "document_count after delete")
            return ""

        self.step("documents.delete", delete_document)

        # --- dataset delete ---
        def delete_dataset() -> str:
            answer = c.datasets.delete(self.dataset_id)
            check(answer == {"status": "success"}, f"delete answered {answer}")
            try:
                c.datasets.get(self.dataset_id)
            except DifyNotFoundError as e:
                check(e.status_code == 404, f"status {e.status_code}")
                deleted = self.dataset_id
                self.dataset_id = ""
                ids = [item["id"] for item in c.datasets.list(keyword=name).data]
                check(deleted not in ids, f"datasets.list still has the deleted dataset: {ids}")
                return "get -> 404 DifyNotFoundError"
            raise Failure("datasets.get of a deleted dataset did not answer 404")

        self.step("datasets.delete then get -> 404", delete_dataset)

    def cleanup(self) -> None:
        for dataset_id in (self.dataset_id, self.parent_dataset_id):
            if dataset_id:
                try:
                    self.client.datasets.delete(dataset_id)
                except Exception:
                    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="server root without /v1, e.g. http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True, help="a dataset-… key")
    parser.add_argument("--fixtures", required=True, type=Path, help="the fixtures/docs directory")
    parser.add_argument("--keep", action="store_true", help="do not delete the datasets after a failure")
    args = parser.parse_args()

    base_url = args.base_url.rstrip("/")
    if base_url.endswith("/v1"):
        print("FAIL setup: --base-url must not end in /v1 (the SDK adds it)", file=sys.stderr)
        return 2
    client = DifyDatasetClient(api_key=args.api_key, base_url=base_url, timeout=120.0)
    run = Run(client, base_url, args.api_key, args.fixtures)
    started = time.monotonic()
    try:
        run.run()
    except Failure as e:
        print(f"FAIL {e}", flush=True)
        if not args.keep:
            run.cleanup()
        return 1
    finally:
        client.close()
    print(f"PASS {run.steps} steps in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
