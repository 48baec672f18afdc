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


def test_gen_checkpoint_is_a_valid_hf_checkpoint(build_dir, tmp_path):
    """r1ctl gen-checkpoint writes shards that the safetensors library reads, with FP8 weights,
    F32 scales in another shard, and an index that covers every tensor."""
    from safetensors import safe_open
    cfg = json.loads((build_dir.parent / "tests/fixtures/deepseek-r1-config.json").read_text())
    cfg.update(hidden_size=256, intermediate_size=384, moe_intermediate_size=64,
               num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=8, n_group=4,
               topk_group=2, num_experts_per_tok=2, num_attention_heads=2, q_lora_rank=128,
               kv_lora_rank=128, qk_nope_head_dim=32, qk_rope_head_dim=32, v_head_dim=32,
               vocab_size=1000)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    out = tmp_path / "ckpt"
    r = subprocess.run([str(build_dir / "r1ctl" / "r1ctl"), "gen-checkpoint", "--config",
                        str(tmp_path / "config.json"), "--out", str(out), "--seed", "5"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    index = json.loads((out / "model.safetensors.index.json").read_text())["weight_map"]
    name = "model.layers.1.mlp.experts.3.down_proj.weight"
    assert index[name] != index[name + "_scale_inv"]
    with safe_open(str(out / index[name]), "np") as f:
        assert f.get_slice(name).get_dtype() == "F8_E4M3"
        assert f.get_slice(name).get_shape() == [256, 64]
    with safe_open(str(out / index[name + "_scale_inv"]), "np") as f:
        s = f.get_tensor(name + "_scale_inv")
        assert s.dtype == np.float32 and s.shape == (2, 1) and (s > 0).all()
    assert "model.layers.2.eh_proj.weight" in index  # MTP layer
    assert inspect(build_dir, out).returncode == 0
