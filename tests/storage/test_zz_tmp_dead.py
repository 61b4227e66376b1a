from pathlib import Path
import tests.fixtures.seaweedfs as sw
def test_x(monkeypatch, tmp_path):
    monkeypatch.setattr(sw, "find_weed", lambda: Path("/bin/false"))
    with sw.run_seaweedfs(tmp_path):
        pass
