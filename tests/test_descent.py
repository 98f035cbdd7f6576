"Checks of `fastbird.descent` (nbs/05_inside.ipynb) beyond the notebook's lessons: edge cases and the loop on a problem with a known answer."
import pytest, torch
from fastbird.descent import (quad, noisy, mse_loss, num_grad, train_loop, relu_net, init_relu_net, linear_model, bce,
                              accuracy_of, predict_with, show_quad, show_training)

def test_train_updates_every_weight_in_place():
    ws = init_relu_net(4, seed=1)
    before = [w.detach().clone() for w in ws]
    x, y = noisy(torch.sin, n=20)
    log = train_loop(relu_net, ws, x, y, lr=0.01, steps=3, snap_at=(0, 3))
    assert len(log.losses) == 4
    assert all(not torch.equal(b, w.detach()) for b, w in zip(before, ws))
    assert all(torch.equal(s, b) for s, b in zip(log.snaps[0], before))
    assert all(torch.equal(s, w.detach()) for s, w in zip(log.snaps[3], ws))
    assert all(w.grad.abs().sum() == 0 for w in ws)  # reset after the last update

def test_linear_classifier_learns_separable_points():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x @ torch.tensor([1., -2., 0., 0., 3.]) > 0).float()
    w = [torch.zeros(5).requires_grad_(), torch.zeros(()).requires_grad_()]
    log = train_loop(linear_model, w, x, y, loss_fn=bce, lr=0.5, steps=300)
    assert log.losses[-1] < log.losses[0] / 4
    assert accuracy_of(predict_with(linear_model, w, x), y) > 0.95

def test_bce_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(30, 3, generator=g, dtype=torch.float64), (torch.rand(30, generator=g) > 0.5).double()
    w = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.zeros((), dtype=torch.float64)
    bce(linear_model(x, (w, b)), y).backward()
    assert torch.allclose(w.grad, num_grad(lambda t: bce(linear_model(x, (t, b)), y), w, eps=1e-6), atol=1e-6)

@pytest.mark.parametrize('call, msg', [
    (lambda: noisy(torch.sin, n=0), 'n must be at least 1'),
    (lambda: num_grad(lambda w: w.sum(), torch.ones(2), eps=0), 'eps must be positive'),
    (lambda: train_loop(quad, torch.ones(3, requires_grad=True), torch.ones(4), torch.ones(4), lr=-1), 'must be positive'),
    (lambda: train_loop(quad, torch.ones(3, requires_grad=True), torch.ones(4), torch.ones(4), steps=-5), 'at least 1'),
    (lambda: quad(torch.ones(4), [1., 2., 3.]), 'must be a torch.Tensor'),
    (lambda: linear_model(torch.ones(4, 3), (torch.ones(2), torch.zeros(()))), 'inputs must have shape (n, 2)'),
    (lambda: accuracy_of(torch.ones(3), torch.ones(4)), 'must match'),
])
def test_bad_arguments_say_what_is_wrong(call, msg):
    with pytest.raises((ValueError, TypeError), match=None) as e: call()
    assert msg in str(e.value)

def test_pictures_draw_without_a_display(tmp_path):
    import matplotlib; matplotlib.use('Agg')
    x, y = noisy(lambda x: quad(x, torch.tensor([1., 0., 0.])), n=10)
    assert show_quad(x, y, 1., 0., 0.) == pytest.approx(mse_loss(x**2, y).item())
    w = torch.zeros(3).requires_grad_()
    fig = show_training(quad, train_loop(quad, w, x, y, steps=5, snap_at=(0, 5)), x, y, 'test')
    assert len(fig.axes) == 3
    fig.savefig(tmp_path/'fit.png'); assert (tmp_path/'fit.png').stat().st_size > 1000

def test_device_argument_gives_cpu_results():
    "One code path: `device` names where to compute; weights, snapshots and predictions come back on the CPU."
    x, y = noisy(lambda x: quad(x, torch.tensor([1., 2., 3.])), n=30)
    w_default, w_cpu = (torch.zeros(3).requires_grad_() for _ in range(2))
    log_default = train_loop(quad, w_default, x, y, lr=0.05, steps=10, snap_at=(10,))
    log_cpu = train_loop(quad, w_cpu, x, y, lr=0.05, steps=10, snap_at=(10,), device='cpu')
    assert w_cpu.device.type == 'cpu' and log_cpu.snaps[10].device.type == 'cpu'
    assert predict_with(quad, w_cpu, x, device='cpu').device.type == 'cpu'
    if not torch.cuda.is_available():
        assert log_default.losses == log_cpu.losses and torch.equal(w_default, w_cpu)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_gpu_matches_cpu():
    "On a GPU, the weights passed in are updated in place on the CPU and agree with a CPU run."
    x, y = noisy(lambda x: quad(x, torch.tensor([1., 2., 3.])), n=30)
    w_cpu, w_gpu = (torch.zeros(3).requires_grad_() for _ in range(2))
    log_cpu = train_loop(quad, w_cpu, x, y, lr=0.05, steps=50, device='cpu')
    log_gpu = train_loop(quad, w_gpu, x, y, lr=0.05, steps=50, snap_at=(50,), device='cuda')
    assert w_gpu.device.type == 'cpu' and w_gpu.grad is not None and log_gpu.snaps[50].device.type == 'cpu'
    assert torch.allclose(w_cpu, w_gpu, atol=1e-4) and abs(log_cpu.losses[-1] - log_gpu.losses[-1]) < 1e-4
    assert torch.allclose(predict_with(quad, w_gpu, x, device='cuda'), predict_with(quad, w_cpu, x, device='cpu'), atol=1e-4)
