"""GANomaly for sample vectors: Luo, Zuo, Xiong & Wang (2021, Applied Geochemistry 131:105043)
after Akcay, Atapour-Abarghouei & Breckon (2018, arXiv 1805.06725).

Networks (multilayer perceptrons on standardised rows, not the convolutions of the images paper):

* generator: encoder ``G_E`` (d -> 24 -> 12 -> 3), decoder ``G_D`` (3 -> 12 -> 24 -> d, linear
  output) and a second encoder ``E`` (d -> 24 -> 12 -> 3) with its own weights;
  ``z = G_E(x)``, ``x_hat = G_D(z)``, ``z_hat = E(x_hat)``;
* discriminator ``D``: an encoder of the same shape whose last layer has ONE output (a logit;
  the sigmoid is inside the loss); its penultimate activations (the 12-d hidden layer) are the
  features ``f`` of the feature-matching loss.

Losses, per Adam step, both from the same forward pass (so, as in the reference code, D's loss
sees the reconstruction and the D of before this step's updates); each network is updated by
its own loss only:

* generator ``w_adv * mean (f(x) - f(x_hat))^2 + w_rec * mean |x - x_hat| +
  w_enc * mean (z - z_hat)^2`` with weights 1 / 50 / 1 [paper; code];
* discriminator ``(BCE(D(x), 1) + BCE(D(x_hat), 0)) / 2`` [code];
* when the discriminator loss falls below ``d_reinit_below`` (1e-5, as in the reference's
  ``reinit_d``), D is re-initialised: fresh weights from a seed derived from ``seed`` and the
  re-initialisation count, and a fresh Adam state (the reference keeps D's Adam moments; stale
  second moments of a collapsed D would damp the first updates of the new one).
* Adam, learning rate 2e-4, betas (0.5, 0.999), one optimiser for the generator, one for D.

Score (higher = more anomalous, deterministic): ``mean_k (z_k - z_hat_k)^2`` per row, the latent
distance of the reference code, NOT min-max scaled over the scored set as the reference does
(a row's score must not depend on which other rows are scored with it).

Model selection is label-free.  The reference code evaluates the test AUC after every epoch and
keeps the weights of the best one: the anomaly labels choose the model, so its reported AUCs are
optimistic.  Here the weights kept are those of the epoch with the lowest held-out
``w_rec * L1 + w_enc * latent`` loss (the generator loss without its adversarial term: that
term is measured through a D that changes every step and restarts when re-initialised, so its
values from different epochs are not comparable).  ``fit`` has no access to labels at all.

The adversarial training itself (the step, the re-initialisation, the checkpoint) is
:class:`AdversarialTraining`, shared with the map variant (ganomaly_map.py): the two differ only
in their networks, their batches and their held-out evaluation.
"""

from __future__ import annotations

from .autoencoder import DeepDetector

#: negative slope of "leaky_relu" here: 0.2 as in the reference encoders and discriminator (the
#: project's other networks use torch's default 0.01)
LEAKY_SLOPE = 0.2

#: seed offset for the discriminator's re-initialisations (seed + offset + count)
REINIT_SEED_OFFSET = 104729

#: network parts: generator (encoder, decoder, encoder2) and discriminator (trunk, head)
GENERATOR_PARTS = ("encoder", "decoder", "encoder2")
DISCRIMINATOR_PARTS = ("disc_features", "disc_head")


class AdversarialTraining:
    """GANomaly's training, shared by the row (:class:`GANomalyDetector`) and the window
    (``ganomaly_map.GANomalyMapDetector``) detectors, so that a fix to the step, the
    discriminator's re-initialisation or the label-free checkpoint reaches both.

    The host provides the parameters (``w_adv``, ``w_rec``, ``w_enc``, ``learning_rate``,
    ``beta1``, ``beta2``, ``d_reinit_below``, ``epochs``, ``patience``, ``tol``, ``seed``,
    ``progress``), ``n_features_in_``, ``_discriminator(n_features)`` (the ``DISCRIMINATOR_PARTS``
    modules) and ``_losses(network, *batch)`` -> (generator loss, discriminator loss,
    [adv, rec, enc] detached).
    """

    def _check_adversarial_params(self) -> None:
        from . import torch_training as tt

        tt.check_finite_nonnegative(self, "w_adv", "w_rec", "w_enc", "d_reinit_below")
        tt.check_unit_interval(self, "beta1", "beta2")
        tt.check_at_least_one(self, "epochs")
        tt.check_patience(self.patience)

    def _generator_loss(self, adv, rec, enc):
        """``w_adv * adv + w_rec * rec + w_enc * enc``."""
        return float(self.w_adv) * adv + float(self.w_rec) * rec + float(self.w_enc) * enc

    @staticmethod
    def _discriminator_loss(network, features):
        """Mean BCE of D's logits on ``features`` of [x; x_hat] (first half real, second fake) =
        (BCE(real -> 1) + BCE(fake -> 0)) / 2; on logits: the same loss as sigmoid + BCE,
        without BCELoss's log(0) clamp."""
        import torch
        from torch.nn import functional as F

        n = features.shape[0] // 2
        logits = network["disc_head"](features).squeeze(1)
        target = torch.cat([torch.ones(n, dtype=logits.dtype, device=logits.device),
                            torch.zeros(n, dtype=logits.dtype, device=logits.device)])
        return F.binary_cross_entropy_with_logits(logits, target)

    def _record(self, means: list) -> dict:
        """Epoch means [loss, adv, rec, enc, d_loss] as a dict with the stopping criterion."""
        record = dict(zip(("loss", "adv", "rec", "enc", "d_loss"), means))
        record["monitor"] = float(self.w_rec) * record["rec"] + float(self.w_enc) * record["enc"]
        return record

    def _reinit_discriminator(self, network, seed: int) -> None:
        """Fresh D weights drawn on the CPU from ``seed`` (device-independent, no global RNG
        change), copied into the existing parameters."""
        import torch

        from . import torch_training as tt

        fresh = tt.build_seeded(lambda: torch.nn.ModuleDict(
            self._discriminator(self.n_features_in_)), seed, torch.device("cpu"))
        with torch.no_grad():
            for key in DISCRIMINATOR_PARTS:
                for old, new in zip(network[key].parameters(), fresh[key].parameters()):
                    old.copy_(new)

    def _train_adversarial(self, network, epoch_batches, n_per_epoch: int, evaluate,
                           device) -> None:
        """Adam steps of G and D, label-free early stopping, the best weights put back.

        ``epoch_batches(shuffle)`` yields one epoch's mini-batches as tuples of ``_losses``
        arguments (the first one's rows weigh the epoch means), drawing its order from the
        torch generator ``shuffle``; ``n_per_epoch`` rows in all. ``evaluate(network)`` is the
        held-out record, or ``evaluate`` is None without held-out data (then the training
        ``monitor`` is watched). Sets ``history_``, ``n_epochs_``, ``best_epoch_``,
        ``n_d_reinit_``.
        """
        import torch

        from . import torch_training as tt

        seed, epochs = int(self.seed), int(self.epochs)
        betas = (self.beta1, self.beta2)
        g_params = [p for key in GENERATOR_PARTS for p in network[key].parameters()]
        d_params = [p for key in DISCRIMINATOR_PARTS for p in network[key].parameters()]
        optimizer_g = tt.adam(g_params, self.learning_rate, device, betas)
        optimizer_d = tt.adam(d_params, self.learning_rate, device, betas)
        shuffle = tt.make_generator(seed, device)
        reinit_below = float(self.d_reinit_below)

        history: dict[str, list] = {}
        stopping = tt.EarlyStopping(network, self.patience, self.tol)
        n_reinit, n_done = 0, 0
        report = tt._progress_reporter(self.progress, epochs)
        network.train()
        try:
            for epoch in range(1, epochs + 1):
                totals = None
                for batch in epoch_batches(shuffle):
                    g_loss, d_loss, parts = self._losses(network, *batch)
                    # each loss updates only its own network: G's gradient of the feature
                    # matching must not train D, D's BCE on x_hat must not train G
                    g_grads = torch.autograd.grad(g_loss, g_params, retain_graph=True)
                    d_grads = torch.autograd.grad(d_loss, d_params)
                    for param, grad in zip(g_params, g_grads):
                        param.grad = grad
                    for param, grad in zip(d_params, d_grads):
                        param.grad = grad
                    optimizer_g.step()
                    optimizer_d.step()
                    d_value = d_loss.detach()
                    if reinit_below > 0 and float(d_value) < reinit_below:
                        n_reinit += 1
                        self._reinit_discriminator(network, seed + REINIT_SEED_OFFSET + n_reinit)
                        optimizer_d = tt.adam(d_params, self.learning_rate, device, betas)
                    values = torch.stack([g_loss.detach(), *parts, d_value]) * batch[0].shape[0]
                    totals = values if totals is None else totals + values
                record = self._record((totals / n_per_epoch).tolist())
                if evaluate is not None:
                    val = evaluate(network)
                    record.update({f"val_{key}": value for key, value in val.items()})
                for key, value in record.items():
                    history.setdefault(key, []).append(value)
                n_done = epoch

                stop = stopping.update(network, epoch, record["val_monitor"]
                                       if evaluate is not None else record["monitor"])
                report(epoch, record)
                if stop:
                    break
        finally:
            report.close()
        stopping.restore(network)
        self.history_ = history
        self.n_epochs_ = n_done
        self.best_epoch_ = stopping.best_epoch
        self.n_d_reinit_ = n_reinit


class GANomalyDetector(AdversarialTraining, DeepDetector):
    """GANomaly (Akcay et al. 2018) on sample vectors, as used by Luo et al. (2021).

    Parameters
    ----------
    hidden, latent_dim, decoder_hidden : encoder widths (24, 12), latent size 3, decoder widths
        (None = the encoder mirrored: 12, 24), as the project's VAE.  Both encoders and the
        discriminator's trunk use ``hidden``.
    activation : hidden-layer activation; "leaky_relu" (default) has slope 0.2, as the
        reference's encoders and discriminator (its decoder uses ReLU; one activation
        everywhere here: a 24-12 network loses too many units to dead ReLUs).
    w_adv, w_rec, w_enc : weights of the feature-matching, L1 reconstruction and latent losses
        of the generator (1, 50, 1 as published).
    learning_rate, beta1, beta2 : Adam for both networks (2e-4, 0.5, 0.999 as published).
    d_reinit_below : re-initialise the discriminator when its loss falls below this (1e-5 as
        in the reference; 0 switches it off).  ``n_d_reinit_`` counts re-initialisations.
    epochs, batch_size : the most epochs and rows per Adam step (``"auto"``: about 32 steps
        per epoch, see torch_training.AUTO_STEPS_PER_EPOCH).
    validation_fraction, patience, tol : a seeded held-out fraction; training stops after
        ``patience`` epochs without a relative improvement of ``tol`` in the held-out
        ``w_rec * L1 + w_enc * latent`` loss (the training value when the fraction is 0;
        ``patience=None`` runs all epochs), and the weights of the best epoch are restored.
        ``patience=50`` (the VAE uses 20): at learning rate 2e-4 the generator sits on
        plateaus of several hundred Adam steps before its latent code spreads to the next
        factor (measured on a 2-factor test set: patience 20 stopped at epoch 48 with a
        useless model, patience 50 ran on to a good one in every seed tried).
    standardize : centre and scale features with the training mean/std inside the detector.
    seed : seeds weights, split, shuffling and D re-initialisations; same seed = bitwise
        identical scores on CPU.
    device : "cpu", "cuda" or "auto".
    progress : False, True (a tqdm bar per epoch) or ``callable(epoch, epochs, record)``.

    Fitted attributes: ``network_`` (a ModuleDict: encoder, decoder, encoder2, disc_features,
    disc_head), ``history_`` (per epoch: loss (generator), adv, rec, enc, d_loss, monitor
    (w_rec * rec + w_enc * enc) and their ``val_`` versions), ``n_epochs_``, ``best_epoch_``
    (1-based), ``batch_size_``, ``n_d_reinit_``, ``mean_``, ``scale_``, ``n_features_in_``.
    """

    name = "ganomaly"
    _saved_ints = (*DeepDetector._saved_ints, "n_d_reinit_")

    def __init__(self, hidden=(24, 12), latent_dim=3, decoder_hidden=None,
                 activation="leaky_relu", w_adv=1.0, w_rec=50.0, w_enc=1.0, learning_rate=2e-4,
                 beta1=0.5, beta2=0.999, d_reinit_below=1e-5, epochs=200, batch_size="auto",
                 validation_fraction=0.1, patience=50, tol=1e-4, standardize=True, seed=0,
                 device="cpu", progress=False):
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.w_adv = w_adv
        self.w_rec = w_rec
        self.w_enc = w_enc
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.d_reinit_below = d_reinit_below
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.progress = progress

    # -- parameters and networks ----------------------------------------------------------------
    def _check_params(self) -> None:
        from . import torch_training as tt

        super()._check_params()
        tt.check_activation(self.activation)
        self._check_adversarial_params()

    def _mlp(self, sizes, *, last_activation: bool):
        """Linear layers with the activation between them (leaky_relu with slope 0.2)."""
        from . import torch_training as tt

        return tt.mlp(sizes, self.activation, last_activation=last_activation,
                      leaky_slope=LEAKY_SLOPE)

    def _discriminator(self, n_features: int) -> dict:
        from torch import nn

        encoder, _ = self._layer_sizes(n_features)
        return {"disc_features": self._mlp(encoder, last_activation=True),
                "disc_head": nn.Linear(encoder[-1], 1)}

    def _build_network(self, n_features: int):
        """A ModuleDict: G_E, G_D, E (generator) and D's feature trunk and logit head."""
        from torch import nn

        encoder, decoder = self._layer_sizes(n_features)
        latent = int(self.latent_dim)
        return nn.ModuleDict({
            "encoder": self._mlp([*encoder, latent], last_activation=False),
            "decoder": self._mlp([*decoder, n_features], last_activation=False),
            "encoder2": self._mlp([*encoder, latent], last_activation=False),
            **self._discriminator(n_features),
        })

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Standardise, split off a seeded validation set, train G and D adversarially with
        label-free early stopping.  ``y`` is ignored (unsupervised; pass only the rows to learn
        the background from, e.g. samples away from known deposits)."""
        import torch

        from . import torch_training as tt

        device, Z, X_train, X_val = self._standardised_split(X)
        network = tt.build_seeded(lambda: self._build_network(Z.shape[1]), int(self.seed),
                                  device)
        batch_size = tt.resolve_batch_size(self.batch_size, X_train.shape[0])
        n_train = X_train.shape[0]

        def epoch_batches(shuffle):
            order = torch.randperm(n_train, generator=shuffle, device=device)
            for start in range(0, n_train, batch_size):
                yield (X_train.index_select(0, order[start:start + batch_size]),)

        evaluate = (lambda net: self._evaluate(net, X_val)) if X_val.shape[0] > 0 else None
        with tt.torch_threads(tt.training_threads(batch_size, Z.shape[1], device)):
            self._train_adversarial(network, epoch_batches, n_train, evaluate, device)
        self.network_ = network.eval()
        self.device_ = str(device)
        self.batch_size_ = batch_size
        return self

    def _losses(self, network, batch):
        """(generator loss, discriminator loss, [adv, rec, enc] detached) of one batch.

        One pass of D over [x; x_hat] serves both losses: its penultimate features of the two
        halves give the feature matching, its logits the BCE.  As in the reference, D's loss
        uses the reconstruction and D of before this step's updates.
        """
        import torch

        n = batch.shape[0]
        z = network["encoder"](batch)
        x_hat = network["decoder"](z)
        z_hat = network["encoder2"](x_hat)
        features = network["disc_features"](torch.cat([batch, x_hat]))
        adv = (features[:n].detach() - features[n:]).square().mean()
        rec = (batch - x_hat).abs().mean()
        enc = (z - z_hat).square().mean()
        g_loss = self._generator_loss(adv, rec, enc)
        d_loss = self._discriminator_loss(network, features)
        return g_loss, d_loss, [adv.detach(), rec.detach(), enc.detach()]

    def _evaluate(self, network, X) -> dict:
        """Epoch-end means over ``X`` with the current weights (chunked, no gradients)."""
        import torch

        from . import torch_training as tt

        totals = None
        network.eval()
        with torch.inference_mode():
            for start in range(0, X.shape[0], tt.SCORE_CHUNK_ROWS):
                batch = X[start:start + tt.SCORE_CHUNK_ROWS]
                g_loss, d_loss, parts = self._losses(network, batch)
                values = torch.stack([g_loss, *parts, d_loss]) * batch.shape[0]
                totals = values if totals is None else totals + values
        network.train()
        return self._record((totals / X.shape[0]).tolist())

    # -- scoring ------------------------------------------------------------------------------
    def _score_tensor(self, batch, state=None):
        """mean_k (G_E(x)_k - E(G_D(G_E(x)))_k)^2 per row."""
        network = self.network_
        z = network["encoder"](batch)
        z_hat = network["encoder2"](network["decoder"](z))
        return z.sub_(z_hat).square_().mean(dim=1)
