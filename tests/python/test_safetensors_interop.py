"""Files written by the Hugging Face `safetensors` library are read correctly by r1serve, and
r1serve refuses what that library would refuse."""
import json
import subprocess

import numpy as np
from safetensors.numpy import save_file


def inspect(build_dir, path):
    return subprocess.run([str(build_dir / "r1ctl" / "r1ctl"), "inspect", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_reads_sharded_checkpoint_written_by_safetensors(build_dir, tmp_path):
    w = np.arange(576 * 256, dtype=np.uint8).reshape(576, 256)
    s = np.linspace(0.1, 1.0, 5 * 2, dtype=np.float32).reshape(5, 2)
    save_file({"l.kv_a_proj_with_mqa.weight": w, "l.norm.weight": np.ones(4, np.float32)},
              str(tmp_path / "model-00001-of-000002.safetensors"))
    save_file({"l.kv_a_proj_with_mqa.weight_scale_inv": s},
              str(tmp_path / "model-00002-of-000002.safetensors"))
    index = {"metadata": {"total_size": w.nbytes + s.nbytes + 16},
             "weight_map": {"l.kv_a_proj_with_mqa.weight": "model-00001-of-000002.safetensors",
                            "l.norm.weight": "model-00001-of-000002.safetensors",
                            "l.kv_a_proj_with_mqa.weight_scale_inv":
                                "model-00002-of-000002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    r = inspect(build_dir, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "l.kv_a_proj_with_mqa.weight U8 [576, 256] 147456" in lines
    assert "l.kv_a_proj_with_mqa.weight_scale_inv F32 [5, 2] 40" in lines
    assert lines[-1] == f"total {w.nbytes + s.nbytes + 16} bytes"


def test_truncated_shard_is_refused_with_file_and_tensor(build_dir, tmp_path):
    save_file({"big": np.zeros((64, 64), np.float32)}, str(tmp_path / "model.safetensors"))
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[:-100])
    r = inspect(build_dir, tmp_path)
    assert r.returncode == 1
    assert "model.safetensors" in r.stderr and "'big'" in r.stderr
