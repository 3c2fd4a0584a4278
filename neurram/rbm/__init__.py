"""RBM image recovery on the chip model (SPEC §8-9, the paper's fourth demonstration).

A 794 x 120 restricted Boltzmann machine (784 MNIST pixels + 10 label units) trained in
software with weight-noise injection (:mod:`.model`), mapped over several cores with
adjacent pixels on different cores (:mod:`.mapping`), and Gibbs-sampled on the chip model
with both MVM directions on the same programmed cells and the LFSR noise of the neurons
as the source of randomness (:mod:`.sampler`). All chip access goes through
:mod:`.chip`. ``neurram rbm`` (:mod:`.cli`) writes the report; see docs/rbm.md.
"""
