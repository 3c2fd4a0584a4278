import numpy as np
import torch

from neurram.nets import software as sw
from neurram.nets.finetune import Tail, finetune
from neurram.nets.graph import effective_matrix


def test_torch_forward_equals_the_numpy_host_chain(digits_graph, digits_split):
    x = digits_split.x_test[:40]
    np.testing.assert_allclose(sw.forward(digits_graph, x), digits_graph.run_numpy(x), atol=1e-4)
    i = 5
    a = sw.forward(digits_graph, x, upto=i)
    np.testing.assert_allclose(sw.forward(digits_graph, a, start=i), digits_graph.run_numpy(x), atol=1e-4)


def test_four_bit_weights_and_noise_act_on_the_chip_matrix(digits_graph):
    op = digits_graph.mvm_ops()[2]
    m, n_b, wmax = effective_matrix(op)
    w, b = sw.layer_weights(op, weight_bits=4)
    assert len(np.unique(np.round(w.numpy() / wmax * 7, 4))) <= 15
    w0, _ = sw.layer_weights(op)
    wn, _ = sw.layer_weights(op, noise=0.1, rng=np.random.default_rng(0))
    assert float((wn - w0).std()) == np.float32(0.1 * wmax).item() or \
        abs(float((wn - w0).std()) / (0.1 * wmax) - 1) < 0.1


def test_noisy_accuracy_draws(digits_graph, digits_split):
    x, y = digits_split.x_test[:100], digits_split.y_test[:100]
    mean, std, accs = sw.noisy_accuracy(digits_graph, x, y, noise=0.1, draws=3)
    assert len(accs) == 3 and std > 0 and mean <= sw.accuracy(digits_graph, x, y) + 0.1


def test_tail_equals_the_graph_and_finetuning_writes_back(digits_graph, digits_split):
    x, y = digits_split.x_train[:64], digits_split.y_train[:64]
    j = 5
    a = sw.forward(digits_graph, x, upto=j)
    tail = Tail(digits_graph, j).eval()
    with torch.no_grad():
        np.testing.assert_allclose(tail(torch.as_tensor(a)).numpy(), sw.forward(digits_graph, a, start=j),
                                   atol=1e-4)
    import copy
    g = copy.deepcopy(digits_graph)
    before = g.mvm_ops()[-1].weight.copy()
    losses = finetune(g, j, a, y, epochs=2, lr=1e-3, noise=0.2)
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    assert not np.allclose(g.mvm_ops()[-1].weight, before)
    np.testing.assert_array_equal(g.mvm_ops()[0].weight, digits_graph.mvm_ops()[0].weight)
