"""Checks of `fastbird.descent` (nbs/library/10_descent.ipynb) beyond its page: the loop on problems with a known answer,
edge cases, and bad arguments. The models and losses are small ones written here, as the lesson page writes its own."""
import pytest, torch
import torch.nn.functional as F
from fastbird.descent import noisy, show_fit, num_grad, TrainLog, train_loop, show_training, init_relu_net, predict_with, accuracy_of

def line(x, w): return w[0]*x + w[1]
def mse(preds, targs): return ((preds-targs)**2).mean()
def relu_net(x, ws):
    "One hidden layer of ReLUs, with the weights `init_relu_net` makes."
    w1, b1, w2, b2 = ws
    return torch.relu(x[:, None] @ w1 + b1) @ w2 + b2
def linear_model(x, ws): return x @ ws[0] + ws[1]
def bce(logits, targs): return F.binary_cross_entropy_with_logits(logits, targs)

def test_train_updates_every_weight_in_place():
    ws = init_relu_net(4, seed=1)
    before = [w.detach().clone() for w in ws]
    x, y = noisy(torch.sin, n=20)
    log = train_loop(relu_net, ws, x, y, mse, lr=0.01, steps=3, snap_at=(0, 3))
    assert isinstance(log, TrainLog) and len(log.losses) == 4
    assert all(not torch.equal(b, w.detach()) for b, w in zip(before, ws))
    assert all(torch.equal(s, b) for s, b in zip(log.snaps[0], before))
    assert all(torch.equal(s, w.detach()) for s, w in zip(log.snaps[3], ws))
    assert all(w.grad.abs().sum() == 0 for w in ws)  # reset after the last update

def test_the_loop_finds_the_least_squares_line():
    x, y = noisy(lambda x: line(x, torch.tensor([2., 1.])), n=40)
    w = torch.zeros(2).requires_grad_()
    log = train_loop(line, w, x, y, mse, lr=0.1, steps=200)
    A = torch.stack([x, torch.ones_like(x)], 1)
    assert torch.allclose(w.detach(), torch.linalg.lstsq(A, y[:, None]).solution.flatten(), atol=1e-3)
    assert log.losses[-1] < log.losses[0] / 4

def test_without_the_reset_the_gradients_pile_up():
    "`zero_grad=False` leaves each step's gradient in `.grad`: the sum of all of them, the bug the reset prevents."
    x, y = noisy(lambda x: line(x, torch.tensor([2., 1.])), n=20)
    w, w_bug = torch.zeros(2).requires_grad_(), torch.zeros(2).requires_grad_()
    train_loop(line, w, x, y, mse, lr=0.01, steps=3)
    train_loop(line, w_bug, x, y, mse, lr=0.01, steps=3, zero_grad=False)
    assert torch.equal(w.grad, torch.zeros(2)) and not torch.equal(w_bug.detach(), w.detach())

def test_linear_classifier_learns_separable_points():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x @ torch.tensor([1., -2., 0., 0., 3.]) > 0).float()
    w = [torch.zeros(5).requires_grad_(), torch.zeros(()).requires_grad_()]
    log = train_loop(linear_model, w, x, y, bce, lr=0.5, steps=300)
    assert log.losses[-1] < log.losses[0] / 4
    assert accuracy_of(predict_with(linear_model, w, x), y) > 0.95

def test_accuracy_of_reads_the_scores_sign():
    assert accuracy_of(torch.tensor([2., -1., 0.5, -3.]), torch.tensor([1., 0., 0., 0.])) == 0.75
    assert accuracy_of(torch.tensor([0., 0.]), torch.tensor([0., 0.])) == 1.0  # a score of 0 says no
    assert accuracy_of(torch.tensor([-1.]), torch.tensor([0.])) == 1.0

def test_num_grad_matches_autograd():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 3, generator=g, dtype=torch.float64), (torch.rand(30, generator=g) > 0.5).double()
    w = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.zeros((), dtype=torch.float64)
    bce(linear_model(x, (w, b)), y).backward()
    assert torch.allclose(w.grad, num_grad(lambda t: bce(linear_model(x, (t, b)), y), w, eps=1e-6), atol=1e-6)

@pytest.mark.parametrize('call, msg', [
    (lambda: noisy(torch.sin, n=0), 'n must be at least 1'),
    (lambda: num_grad(lambda w: w.sum(), torch.ones(2), eps=0), 'eps must be positive'),
    (lambda: train_loop(line, torch.ones(2, requires_grad=True), torch.ones(4), torch.ones(4), mse, lr=-1), 'must be positive'),
    (lambda: train_loop(line, torch.ones(2, requires_grad=True), torch.ones(4), torch.ones(4), mse, steps=-5), 'at least 1'),
    (lambda: train_loop(line, torch.ones(2), torch.ones(4), torch.ones(4), mse), 'requires_grad=True'),
    (lambda: init_relu_net(0), 'n_hidden must be at least 1'),
    (lambda: accuracy_of(torch.ones(3), torch.ones(4)), 'must match'),
])
def test_bad_arguments_say_what_is_wrong(call, msg):
    with pytest.raises(ValueError) as e: call()
    assert msg in str(e.value)

def test_pictures_draw_without_a_display(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    x, y = noisy(lambda x: line(x, torch.tensor([1., 0.])), n=10)
    ax = show_fit(x, y, lambda x: line(x, torch.tensor([1., 0.])), 'fit')
    assert ax.get_title() == 'fit' and len(ax.lines) == 1
    w = torch.zeros(2).requires_grad_()
    fig = show_training(line, train_loop(line, w, x, y, mse, steps=5, snap_at=(0, 5)), x, y, 'test')
    assert len(fig.axes) == 3
    fig.savefig(tmp_path/'fit.png'); assert (tmp_path/'fit.png').stat().st_size > 1000

def test_device_argument_gives_cpu_results():
    "One code path: `device` names where to compute; weights, snapshots and predictions come back on the CPU."
    x, y = noisy(lambda x: line(x, torch.tensor([1., 2.])), n=30)
    w_default, w_cpu = (torch.zeros(2).requires_grad_() for _ in range(2))
    log_default = train_loop(line, w_default, x, y, mse, lr=0.05, steps=10, snap_at=(10,))
    log_cpu = train_loop(line, w_cpu, x, y, mse, lr=0.05, steps=10, snap_at=(10,), device='cpu')
    assert w_cpu.device.type == 'cpu' and log_cpu.snaps[10].device.type == 'cpu'
    assert predict_with(line, w_cpu, x, device='cpu').device.type == 'cpu'
    if not torch.cuda.is_available():
        assert log_default.losses == log_cpu.losses and torch.equal(w_default, w_cpu)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_gpu_matches_cpu():
    "On a GPU, the weights passed in are updated in place on the CPU and agree with a CPU run."
    x, y = noisy(lambda x: line(x, torch.tensor([1., 2.])), n=30)
    w_cpu, w_gpu = (torch.zeros(2).requires_grad_() for _ in range(2))
    log_cpu = train_loop(line, w_cpu, x, y, mse, lr=0.05, steps=50, device='cpu')
    log_gpu = train_loop(line, w_gpu, x, y, mse, lr=0.05, steps=50, snap_at=(50,), device='cuda')
    assert w_gpu.device.type == 'cpu' and w_gpu.grad is not None and log_gpu.snaps[50].device.type == 'cpu'
    assert torch.allclose(w_cpu, w_gpu, atol=1e-4) and abs(log_cpu.losses[-1] - log_gpu.losses[-1]) < 1e-4
    assert torch.allclose(predict_with(line, w_gpu, x, device='cuda'), predict_with(line, w_cpu, x, device='cpu'), atol=1e-4)
