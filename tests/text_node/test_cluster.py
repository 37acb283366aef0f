"""Three text nodes as processes, each on its own PostgreSQL."""

import concurrent.futures
import time

import httpx

from tests.conftest import AUTH
from tests.text_node.conftest import INITIAL_TEXT, TextCluster


def wait_converged(cluster: TextCluster, version: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        texts = cluster.texts()
        if len(set(texts.values())) == 1 and next(iter(texts.values()))[1] >= version:
            return texts
        if time.monotonic() > deadline:
            raise AssertionError(f"not converged: {texts}")
        time.sleep(0.2)


def test_edits_on_different_nodes_converge(text_cluster):
    assert text_cluster.edit("a", "e1", {"type": "append", "text": " Первая правка."}).status_code == 201
    assert text_cluster.edit("b", "e2", {"type": "insert_before", "anchor": "Роботы", "text": "😀 "}).status_code == 201
    assert text_cluster.edit("c", "e3", {"type": "replace", "anchor": "космос", "text": "звёзды"}).status_code == 201
    texts = wait_converged(text_cluster, 3)
    text, version = texts["a"]
    assert version == 3
    assert "Первая правка." in text and "😀 Роботы" in text and "звёзды" in text
