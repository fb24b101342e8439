"""The bundled Cranfield corpus, embedded once per test session (~45 s on 2 cores) into a
text namespace that tests read and never write: ``cranfield`` gives its data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitsift.api.client import Client
from bitsift.cli.demo import cranfield_documents

NAMESPACE = "cranfield"


@pytest.fixture(scope="session")
def cranfield(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cranfield")
    docs = cranfield_documents()
    with Client(path=folder) as client:
        client.create_namespace(NAMESPACE, type="text")
        for i in range(0, len(docs), 256):
            client.upload_documents(NAMESPACE, docs[i : i + 256])
    return folder
