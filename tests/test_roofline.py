"""The op-by-op roofline of ``make bench`` (benchmarks/roofline.py), against closed forms."""
import torch
import torch.nn.functional as F

from benchmarks import roofline as R


def test_conv_flops_and_pointwise_bytes_match_closed_forms():
    n, cin, cout, k, h, w = 2, 3, 8, 3, 10, 10
    x = torch.randn(n, cin, h, w)
    wt = torch.randn(cout, cin, k, k)

    def fn():
        y = F.conv2d(x, wt, padding=1)            # 2 * N * Cout * Cin * k^2 * H * W FLOPs
        z = F.gelu(y.permute(0, 2, 3, 1))         # the permute is a view: no bytes
        return z

    ops = R.op_costs(fn)
    names = [o[0] for o in ops]
    assert "aten.permute" not in names
    conv = [o for o in ops if o[0] == "aten.convolution"]
    assert len(conv) == 1 and conv[0][1] == 2 * n * cout * cin * k * k * h * w
    assert conv[0][2] == 4 * (x.numel() + wt.numel() + n * cout * h * w)     # read x and weight, write y
    gelu = [o for o in ops if o[0] == "aten.gelu"]
    assert len(gelu) == 1 and gelu[0][1] == 0 and gelu[0][2] == 2 * 4 * n * cout * h * w


def test_torchscript_convolutions_are_counted():
    """FID's Inception is TorchScript, which calls the composite aten.conv2d: its FLOPs must count."""
    m = torch.jit.script(torch.nn.Conv2d(4, 6, 3, bias=False))
    x = torch.randn(1, 4, 8, 8)
    ops = R.op_costs(lambda: m(x))
    assert sum(o[1] for o in ops) == 2 * 6 * 4 * 9 * 6 * 6


def test_broadcast_inputs_count_their_stored_elements_only():
    t = torch.randn(5, 1).expand(5, 1000)
    assert R.tensor_bytes(t) == 5 * 4
    assert R.tensor_bytes(torch.zeros(3, 4, dtype=torch.bfloat16)) == 24


def test_bound_is_the_sum_of_per_op_maxima():
    ops = [("conv", 1e9, 1e6, torch.bfloat16),    # compute-bound: 1e9 / 2e12 = 0.5 ms > 1e6 / 1e10 = 0.1 ms
           ("add", 0, 3e6, torch.bfloat16),       # memory-bound: 0.3 ms
           ("mm", 4e8, 1e5, torch.float32)]       # compute-bound at the fp32 peak: 4e8 / 1e12 = 0.4 ms
    b = R.bound_seconds(ops, {"fp32": 1e12, "bf16": 2e12}, 1e10)
    assert abs(b["compute_bound"] - 0.9e-3) < 1e-12
    assert abs(b["memory_bound"] - 0.3e-3) < 1e-12
    assert abs(b["total"] - 1.2e-3) < 1e-12
    # a bandwidth curve: each op held to the bandwidth at its own size
    curve = lambda nbytes: 1e10 if nbytes > 2e6 else 1e11
    assert abs(R.bound_seconds(ops[1:2], {"fp32": 1, "bf16": 1}, curve)["total"] - 3e-4) < 1e-12


def test_bandwidth_curve_picks_the_nearest_size():
    c = R.BandwidthCurve(working_sets=(2 ** 16, 2 ** 20))
    assert all(b > 0 for _, b in c.points)
    assert c(2 ** 15) == c.points[0][1] and c(2 ** 22) == c.points[1][1]


def test_by_op_accounts_for_every_op_once():
    x, wt = torch.randn(2, 3, 10, 10), torch.randn(8, 3, 3, 3)
    fn = lambda: F.gelu(F.conv2d(x, wt, padding=1))
    rows = {r["op"]: r for r in R.by_op(fn, {"fp32": 1e11, "bf16": 1e12}, 1e10, n=2, repeat=2)}
    assert set(rows) == {"aten.convolution", "aten.gelu"}
    assert rows["aten.convolution"]["calls"] == 1
    assert abs(rows["aten.convolution"]["GFLOP_per_img"] - 8 * 3 * 9 * 100 * 2 / 1e9) < 1e-15
    # the gelu's bound: its bytes (read and write 2 x 8 x 10 x 10 floats, per image) over 1e10 B/s, in ms
    assert abs(rows["aten.gelu"]["roofline_ms"] - 2 * 4 * 800 / 1e10 * 1e3) < 1e-12
    assert all(r["measured_ms"] > 0 and r["fraction_of_bound"] > 0 for r in rows.values())
