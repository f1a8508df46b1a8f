//! Writes the built-in presets into `presets/` (run: `cargo run --example gen_presets`).
//!
//! The preset files are the source of truth that Strata loads; this program is how we author
//! the large ones (BERT has 12 identical layers, DenseNet 58 dense layers) without typing JSON.
//! Every reference configuration reproduces its reference implementation layer by layer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_arguments)]

use strata::catalog::GraphBuilder;
use strata::doc::{
    BlockDef, DatasetBinding, NodeId, Optimizer, ParamValue as V, PresetInfo, Project, RecipeSettings, Schedule,
    TrainingSettings, save_file,
};

type P<'a> = &'a [(&'a str, V)];

fn shape(s: &str) -> V {
    V::List(
        s.split(',')
            .map(|t| {
                t.trim()
                    .parse::<i64>()
                    .map(V::Int)
                    .unwrap_or_else(|_| V::Text(t.trim().into()))
            })
            .collect(),
    )
}

/// What a default run measured on the 2-core development machine (release build,
/// `strata train <id> --device cpu`; the figures are in TESTING.md), shown in the gallery.
fn measured(id: &str) -> Option<&'static str> {
    Some(match id {
        "mlp" => "validation accuracy 0.946 in 1.3 s",
        "lenet5" => "validation accuracy 0.975 in 18 s",
        "resnet_mini" => "validation accuracy 0.889 in 65 s",
        "autoencoder" => "validation MSE 0.0089 in 16 s; sharp reconstructions",
        "vae" => "validation loss 0.213 in 14 s; reconstructions, latent map, interpolations",
        "dcgan" => "digit-like samples with artefacts in about 5 min",
        "unet_shapes" => "mean IoU 0.995 in 47 s",
        "score_2d" => "Langevin samples on the two moons in 4 s",
        "realnvp" => "held-out NLL 1.65 → 1.23 nats in 16 s; samples on the moons",
        "glow" => "2.18 bits/dim in 6 min; samples are specks, not digits yet",
        "ddpm_unet" => "ε-loss 0.034 in 7 min; LeNet-5 reads 55 % of guided samples as the class asked",
        "dit_mini" => "ε-loss 0.042 in 8 min; LeNet-5 reads 55 % of guided samples as the class asked",
        "dit" => "trains at its own size, but about 20 s a step on 2 cores: a model for a GPU",
        "rnn_rows" => "validation accuracy 0.925 in 24 s",
        "lstm_rows" => "validation accuracy 0.960 in 96 s",
        "gru_rows" => "validation accuracy 0.971 in 56 s",
        "gpt_char" => {
            "validation loss 1.56 nats per character after 1 000 steps in 3 min 54 s; Austen-flavoured text, not yet English"
        }
        "seq2seq_attention" => "reverses unseen digit strings exactly: validation exact match 1.000 in 27 s",
        "transformer_mini" => "writes numbers in words: validation exact match 0.994 in 2 min 31 s",
        "t5_tiny" => "adds unseen pairs of numbers: validation exact match 0.964 in 82 s",
        "bert_mlm" => "validation masked accuracy 0.446 in 3 min 0 s",
        "transformer" => {
            "one training step of one 128-token pair takes 0.93 s on 2 CPU cores (a batch of 32: about 30 s)"
        }
        "bert_base" => {
            "one training step of one 128-token sequence takes 1.34 s on 2 CPU cores (a batch of 32: about 43 s)"
        }
        "gpt2_small" => {
            "one training step of one 128-token sequence takes 1.75 s on 2 CPU cores (a batch of 32: about 56 s)"
        }
        "t5_small" => "one training step of one 128-token pair takes 0.75 s on 2 CPU cores (a batch of 32: about 24 s)",
        "vit_b_16" => "one training step of one 224×224 image takes 1.36 s on 2 CPU cores (a batch of 32: about 44 s)",
        "moe_char" => "validation loss 1.57 nats per character after 1 000 steps in 2 min 14 s",
        "gcn" => "test accuracy 0.791 on Cora's 1 000 test papers in 14 s",
        "gat" => "test accuracy 0.793 on Cora's 1 000 test papers in 20 s",
        "graphsage" => "test accuracy 0.785 on Cora's 1 000 test papers in 29 s",
        "ppo_cartpole" => "mean return 500 (the most there is) over 100 greedy episodes after 150 rollouts, in 5 s",
        "a2c_cartpole" => "mean return 500 over 100 greedy episodes after 5 000 updates, in 4 s",
        "dqn_cartpole" => {
            "mean return 500 over 100 greedy episodes after 30 000 moves in 35 s with the preset's seed; other seeds end between 100 and 500 (DQN is unsteady on CartPole)"
        }
        "sac_pendulum" => {
            "mean return −159 over 100 episodes (random torques: about −1 200) after 8 000 moves, in 32 s"
        }
        "mpnn" => "test accuracy 1.000 on 100 unseen graphs (validation 1.000 from step 50) in 8.7 s",
        "stgcn" => "recognises the four motions of unseen clips: validation accuracy 0.975 in 32 s",
        "karate_gcn" => "test accuracy 0.969 (31 of 32 members) from the two leaders' labels in 0.04 s",
        "rwkv_char" => "validation loss 1.35 nats per character after 600 steps in 6 min 9 s",
        "hyena_char" => "validation loss 1.39 nats per character after 500 steps in 4 min 26 s",
        "lstm_forecast" => "validation MSE 0.038 in 78 s (predicting zero: 0.46)",
        "mamba_char" => {
            "validation loss 1.31 nats per character after 600 steps, the best of the five char LMs, but 11 min 46 s on 2 cores"
        }
        _ => return None,
    })
}

/// A preset under construction.
struct Pre {
    project: Project,
}

impl Pre {
    fn new(id: &str, name: &str, archetype: &str, family: &str, paper: &str, recipe: &str) -> Self {
        let mut project = Project::new(name);
        project.preset = Some(PresetInfo {
            id: id.into(),
            archetype: archetype.into(),
            family: family.into(),
            paper: paper.into(),
            reference: None,
            reference_params: None,
            measured: measured(id).map(str::to_owned),
        });
        project.recipe = RecipeSettings {
            id: recipe.into(),
            settings: Default::default(),
        };
        Pre { project }
    }
    fn reference(mut self, what: &str, params: u64) -> Self {
        if let Some(p) = &mut self.project.preset {
            p.reference = Some(what.into());
            p.reference_params = Some(params);
        }
        self
    }
    fn describe(mut self, d: &str) -> Self {
        self.project.description = d.into();
        self
    }
    fn dataset(mut self, id: &str, options: &[(&str, V)]) -> Self {
        self.project.dataset = DatasetBinding {
            id: id.into(),
            options: options.iter().map(|(k, v)| ((*k).into(), v.clone())).collect(),
        };
        self
    }
    fn training(mut self, f: impl FnOnce(&mut TrainingSettings)) -> Self {
        f(&mut self.project.training);
        self
    }
    fn block(&mut self, id: &str, name: &str, b: GraphBuilder) {
        self.project.blocks.push(BlockDef {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            graph: b.finish(),
        });
    }
    fn save(mut self, g: GraphBuilder) {
        self.project.graph = g.finish();
        strata::shape::layout_project(&mut self.project, &strata::doc::LayoutOptions::default());
        let id = self.project.preset.as_ref().map(|p| p.id.clone()).unwrap_or_default();
        let dir = std::env::var("STRATA_PRESETS_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/presets").into());
        let path = std::path::Path::new(&dir).join(format!("{id}.strata"));
        match save_file(&self.project, &path) {
            Ok(()) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
}

// ---- small graph-writing helpers -------------------------------------------------------------

fn input(g: &mut GraphBuilder, title: &str, shape_: &str, dtype: &str, field: &str) -> NodeId {
    let n = g.node(
        "input",
        &[
            ("shape", shape(shape_)),
            ("dtype", dtype.into()),
            ("field", field.into()),
        ],
    );
    g.title(n, title)
}

fn output(g: &mut GraphBuilder, prev: NodeId, out: &str, role: &str) -> NodeId {
    let n = g.node("output", &[("role", role.into())]);
    g.wire(prev, out, n, "x");
    g.title(n, role)
}

fn port_in(g: &mut GraphBuilder, name: &str, index: i64) -> NodeId {
    g.node("port_in", &[("name", name.into()), ("index", index.into())])
}

fn port_out(g: &mut GraphBuilder, prev: NodeId, name: &str, index: i64) -> NodeId {
    let n = g.node("port_out", &[("name", name.into()), ("index", index.into())]);
    g.wire(prev, "y", n, "x");
    n
}

fn t(g: &mut GraphBuilder, prev: NodeId, kind: &str, params: P) -> NodeId {
    g.then(prev, kind, params)
}

fn conv(g: &mut GraphBuilder, prev: NodeId, out: i64, k: i64, s: i64, p: i64, bias: bool) -> NodeId {
    let mut params = vec![("out_channels", V::Int(out)), ("kernel_size", V::Int(k))];
    if s != 1 {
        params.push(("stride", V::Int(s)));
    }
    if p != 0 {
        params.push(("padding", V::Int(p)));
    }
    if !bias {
        params.push(("bias", V::Bool(false)));
    }
    g.then(prev, "conv2d", &params)
}

fn linear(g: &mut GraphBuilder, prev: NodeId, out: i64) -> NodeId {
    g.then(prev, "linear", &[("out_features", out.into())])
}

/// A linear layer whose weights and bias start at zero (adaLN-Zero).
fn linear_zero(g: &mut GraphBuilder, prev: NodeId, out: i64) -> NodeId {
    g.then(
        prev,
        "linear",
        &[("out_features", out.into()), ("init", "zeros".into())],
    )
}

fn linear_nb(g: &mut GraphBuilder, prev: NodeId, out: i64) -> NodeId {
    g.then(prev, "linear", &[("out_features", out.into()), ("bias", false.into())])
}

fn add2(g: &mut GraphBuilder, a: NodeId, b: NodeId) -> NodeId {
    let n = g.node("add", &[]);
    let (oa, ob) = (g.first_output(a), g.first_output(b));
    g.wire(a, &oa, n, "x0");
    g.wire(b, &ob, n, "x1");
    n
}

fn block_node(g: &mut GraphBuilder, block: &str, repeat: u32, title: &str, inputs: &[(NodeId, &str, &str)]) -> NodeId {
    let n = g.block(block, repeat);
    for (src, out, port) in inputs {
        g.wire(*src, out, n, port);
    }
    g.title(n, title)
}

fn supervised_training(t: &mut TrainingSettings) {
    t.optimizer = Optimizer::Adam;
    t.learning_rate = 1e-3;
    t.batch_size = 64;
    t.steps = 2000;
}

// ---- presets ---------------------------------------------------------------------------------

fn mlp() {
    let pre = Pre::new(
        "mlp",
        "MLP on MNIST",
        "Multilayer perceptron",
        "Fully connected",
        "Rumelhart, Hinton & Williams, Learning representations by back-propagating errors, Nature 1986",
        "supervised",
    )
    .describe("Two dense layers classify 28×28 handwritten digits.")
    .dataset("mnist_5k", &[])
    .training(supervised_training);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let f = t(&mut g, x, "flatten", &[]);
    let h = linear(&mut g, f, 128);
    let r = t(&mut g, h, "relu", &[]);
    let o = linear(&mut g, r, 10);
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

/// A recurrent network reading an MNIST digit one row at a time (28 steps of 28 pixels).
fn rows(id: &str, name: &str, kind: &str, paper: &str) {
    let pre = Pre::new(id, name, "Recurrent network", "Recurrent", paper, "supervised")
        .describe("Reads a 28×28 digit as a sequence of 28 rows of 28 pixels; its last hidden state is classified.")
        .dataset("mnist_5k", &[])
        .training(|t| {
            supervised_training(t);
            t.learning_rate = 2e-3;
            t.steps = 1500;
        });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let seq = t(&mut g, x, "reshape", &[("shape", shape("B,28,28"))]);
    g.title(seq, "rows as a sequence");
    let r = g.then(seq, kind, &[("hidden", 128.into())]);
    let o = g.node("linear", &[("out_features", 10.into())]);
    g.wire(r, "last", o, "x");
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn lenet5() {
    let pre = Pre::new(
        "lenet5",
        "LeNet-5",
        "Convolutional network",
        "Convolutional",
        "LeCun et al., Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 1998",
        "supervised",
    )
    .reference(
        "LeNet-5, modern form (conv 6@5×5, pool, conv 16@5×5, pool, FC 120, 84, 10 on 32×32)",
        61_706,
    )
    .describe("The classic digit recogniser in its usual modern form (ReLU, max pooling) on MNIST padded to 32×32.")
    .dataset("mnist_5k", &[("pad_to", 32.into())])
    .training(supervised_training);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,32,32", "float", "image");
    let c1 = conv(&mut g, x, 6, 5, 1, 0, true);
    let r1 = t(&mut g, c1, "relu", &[]);
    let p1 = t(&mut g, r1, "max_pool2d", &[("kernel_size", 2.into())]);
    let c2 = conv(&mut g, p1, 16, 5, 1, 0, true);
    let r2 = t(&mut g, c2, "relu", &[]);
    let p2 = t(&mut g, r2, "max_pool2d", &[("kernel_size", 2.into())]);
    let f = t(&mut g, p2, "flatten", &[]);
    let mut h = f;
    for (i, w) in [120, 84].into_iter().enumerate() {
        h = linear(&mut g, h, w);
        g.title(h, &format!("F{}", 5 + i));
        h = t(&mut g, h, "relu", &[]);
    }
    let o = linear(&mut g, h, 10);
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn generative_training(t: &mut TrainingSettings) {
    t.optimizer = Optimizer::Adam;
    t.learning_rate = 2e-3;
    t.batch_size = 64;
    t.steps = 1500;
}

fn autoencoder() {
    let pre = Pre::new(
        "autoencoder",
        "Convolutional autoencoder",
        "Autoencoder",
        "Generative",
        "Hinton & Salakhutdinov, Reducing the Dimensionality of Data with Neural Networks, Science 2006",
        "graph_loss",
    )
    .describe("Squeezes each digit through a 32-number code and rebuilds it; trained by its own MSE loss node.")
    .dataset("mnist_5k", &[])
    .training(generative_training);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let c1 = conv(&mut g, x, 16, 3, 2, 1, true);
    let r1 = t(&mut g, c1, "relu", &[]);
    let c2 = conv(&mut g, r1, 32, 3, 2, 1, true);
    let r2 = t(&mut g, c2, "relu", &[]);
    let f = t(&mut g, r2, "flatten", &[]);
    let code = linear(&mut g, f, 32);
    g.title(code, "code");
    let d = linear(&mut g, code, 32 * 7 * 7);
    let r3 = t(&mut g, d, "relu", &[]);
    let u = t(&mut g, r3, "reshape", &[("shape", shape("B,32,7,7"))]);
    let t1 = t(&mut g, u, "conv_transpose2d", &[("out_channels", 16.into())]);
    let r4 = t(&mut g, t1, "relu", &[]);
    let t2 = t(&mut g, r4, "conv_transpose2d", &[("out_channels", 1.into())]);
    let y = t(&mut g, t2, "sigmoid", &[]);
    output(&mut g, y, "y", "reconstruction");
    let mse = g.node("mse", &[]);
    g.wire(y, "y", mse, "input");
    g.wire(x, "y", mse, "target");
    output(&mut g, mse, "y", "loss");
    pre.save(g);
}

fn vae() {
    let pre = Pre::new(
        "vae",
        "Variational autoencoder",
        "Variational autoencoder",
        "Generative",
        "Kingma & Welling, Auto-Encoding Variational Bayes, ICLR 2014",
        "graph_loss",
    )
    .describe("Encodes each digit as a Gaussian in a 2-D latent space, samples it with the reparameterisation trick and decodes it; loss = reconstruction (BCE) + β·KL to N(0, I), both loss nodes in the graph.")
    .dataset("mnist_5k", &[])
    .training(generative_training);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let f = t(&mut g, x, "flatten", &[]);
    let h = linear(&mut g, f, 400);
    let r = t(&mut g, h, "relu", &[]);
    let mu = linear(&mut g, r, 2);
    g.title(mu, "μ");
    let logvar = linear(&mut g, r, 2);
    g.title(logvar, "log σ²");
    output(&mut g, mu, "y", "mu");
    let z = g.node("reparameterize", &[]);
    g.wire(mu, "y", z, "mu");
    g.wire(logvar, "y", z, "logvar");
    let d = linear(&mut g, z, 400);
    let r2 = t(&mut g, d, "relu", &[]);
    let logits = linear(&mut g, r2, 784);
    g.title(logits, "pixel logits");
    let p = t(&mut g, logits, "sigmoid", &[]);
    let img = t(&mut g, p, "reshape", &[("shape", shape("B,1,28,28"))]);
    output(&mut g, img, "y", "reconstruction");
    let bce = g.node("bce", &[]);
    g.wire(logits, "y", bce, "input");
    g.wire(f, "y", bce, "target");
    g.title(bce, "reconstruction loss");
    output(&mut g, bce, "y", "loss");
    let kl = g.node("kl_divergence", &[]);
    g.wire(mu, "y", kl, "mu");
    g.wire(logvar, "y", kl, "logvar");
    // BCE is a mean over 784 pixels, the KL a sum over latent dims: β = 1 per pixel-sum is 1/784 here.
    let beta = t(&mut g, kl, "scale", &[("factor", (1.0f64 / 784.0).into())]);
    g.title(beta, "β·KL");
    output(&mut g, beta, "y", "loss");
    pre.save(g);
}

fn unet_shapes() {
    let pre = Pre::new(
        "unet_shapes",
        "U-Net on shapes",
        "Encoder-decoder with skip connections",
        "Convolutional",
        "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015",
        "supervised",
    )
    .describe("A small U-Net labels every pixel of 32×32 images as background, circle or square: contracting path down, expanding path up, skip connections across.")
    .dataset("shapes", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 2e-3;
        t.batch_size = 16;
        t.steps = 600;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,32,32", "float", "image");
    let double = |g: &mut GraphBuilder, prev: NodeId, w: i64| {
        let c = conv(g, prev, w, 3, 1, 1, true);
        let r = t(g, c, "relu", &[]);
        let c = conv(g, r, w, 3, 1, 1, true);
        t(g, c, "relu", &[])
    };
    let e1 = double(&mut g, x, 16);
    let p1 = t(&mut g, e1, "max_pool2d", &[("kernel_size", 2.into())]);
    let e2 = double(&mut g, p1, 32);
    let p2 = t(&mut g, e2, "max_pool2d", &[("kernel_size", 2.into())]);
    let mid = double(&mut g, p2, 64);
    let mut h = mid;
    for (skip, w) in [(e2, 32), (e1, 16)] {
        let up = t(&mut g, h, "conv_transpose2d", &[("out_channels", w.into())]);
        let cat = g.node("concat", &[]);
        g.wire(skip, "y", cat, "x0");
        g.wire(up, "y", cat, "x1");
        h = double(&mut g, cat, w);
    }
    let o = conv(&mut g, h, 3, 1, 1, 0, true);
    g.title(o, "class scores");
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn score_2d() {
    let pre = Pre::new(
        "score_2d",
        "Score model on two moons",
        "Noise-conditional score network",
        "Generative",
        "Song & Ermon, Generative Modeling by Estimating Gradients of the Data Distribution, NeurIPS 2019",
        "score_matching",
    )
    .describe("An MLP learns the score of a 2-D density at ten noise levels (denoising score matching); annealed Langevin dynamics then draws new points from pure noise.")
    .dataset("two_moons", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 2e-3;
        t.batch_size = 128;
        t.steps = 3000;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "noisy point", "B,2", "float", "x");
    let s = g.node(
        "input",
        &[
            ("shape", shape("B,1")),
            ("dtype", "float".into()),
            ("field", "log_sigma".into()),
            ("source", "timestep".into()),
        ],
    );
    g.title(s, "noise level (log σ)");
    let cat = g.node("concat", &[]);
    g.wire(x, "y", cat, "x0");
    g.wire(s, "y", cat, "x1");
    let mut h = cat;
    for _ in 0..3 {
        h = linear(&mut g, h, 128);
        h = t(&mut g, h, "gelu", &[]);
    }
    let o = linear(&mut g, h, 2);
    g.title(o, "predicted noise");
    output(&mut g, o, "y", "noise_pred");
    pre.save(g);
}

fn realnvp() {
    let pre = Pre::new(
        "realnvp",
        "RealNVP on two moons",
        "Normalizing flow (affine coupling)",
        "Generative",
        "Dinh, Sohl-Dickstein & Bengio, Density Estimation Using Real NVP, ICLR 2017",
        "flow",
    )
    .describe("Eight affine couplings, each keeping one coordinate and scaling and shifting the other by an MLP of it, alternate which coordinate they change. The chain is exactly invertible, so training maximises the exact likelihood of the points; samples are Gaussian noise run backwards. Switch the dataset to the ring of 8 Gaussians to see it split one blob into eight.")
    .dataset("two_moons", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.batch_size = 256;
        t.steps = 3000;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "point", "B,2", "float", "x");
    let mut h = t(&mut g, x, "actnorm", &[]);
    for i in 0..8 {
        h = t(
            &mut g,
            h,
            "affine_coupling",
            &[
                ("mask", "alternate".into()),
                ("flip", V::Bool(i % 2 == 1)),
                ("hidden", V::Int(128)),
                ("depth", V::Int(2)),
            ],
        );
    }
    output(&mut g, h, "y", "latent");
    pre.save(g);
}

fn glow() {
    let pre = Pre::new(
        "glow",
        "Glow on MNIST",
        "Normalizing flow (Glow)",
        "Generative",
        "Kingma & Dhariwal, Glow: Generative Flow with Invertible 1×1 Convolutions, NeurIPS 2018",
        "flow",
    )
    .describe("Squeeze 2×2, four flow steps (ActNorm → invertible 1×1 conv → affine coupling) at 14×14, squeeze again, four more at 7×7. Pixels are dequantised and the exact likelihood is reported in bits per dimension; samples are drawn at temperature 0.7. Single-scale (no split), sized for a laptop CPU.")
    .dataset("mnist_5k", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.batch_size = 32;
        t.steps = 3000;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.grad_clip = Some(50.0);
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "x");
    let mut h = x;
    for level in 0..2 {
        h = t(&mut g, h, "space_to_depth", &[("factor", V::Int(2))]);
        for i in 0..4 {
            h = t(&mut g, h, "actnorm", &[]);
            h = t(&mut g, h, "inv_conv1x1", &[]);
            h = t(
                &mut g,
                h,
                "affine_coupling",
                &[
                    ("mask", "half".into()),
                    ("flip", V::Bool((level * 4 + i) % 2 == 1)),
                    ("hidden", V::Int(64)),
                    ("depth", V::Int(2)),
                ],
            );
        }
    }
    output(&mut g, h, "y", "latent");
    pre.save(g);
}

fn ddpm_unet() {
    let pre = Pre::new(
        "ddpm_unet",
        "DDPM U-Net on MNIST",
        "Denoising diffusion model",
        "Generative",
        "Ho, Jain & Abbeel, Denoising Diffusion Probabilistic Models, NeurIPS 2020",
        "diffusion",
    )
    .describe("A small U-Net (one self-attention block at its 7×7 bottleneck) learns to predict the noise added to digits at any of 1 000 steps, told the timestep and the class (dropped one time in ten for classifier-free guidance); sampling runs DDIM (50 steps) or DDPM (all 1 000). On 2 CPU cores the default run is short for diffusion: about half the samples read as the digit asked for (strata eval-samples), many on grainy backgrounds.")
    .dataset("mnist_5k", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.batch_size = 32;
        t.steps = 2000;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "noised image x_t", "B,1,28,28", "float", "image");
    let ts = g.node(
        "input",
        &[
            ("shape", shape("B")),
            ("dtype", "int".into()),
            ("field", "t".into()),
            ("source", "timestep".into()),
        ],
    );
    g.title(ts, "timestep t");
    let y = input(&mut g, "class", "B", "int", "label");
    let te = t(&mut g, ts, "timestep_embedding", &[("dim", 64.into())]);
    let te = linear(&mut g, te, 64);
    let te = t(&mut g, te, "gelu", &[]);
    let ye = g.node("embedding", &[("num_embeddings", 11.into()), ("dim", 64.into())]);
    g.wire(y, "y", ye, "ids");
    g.title(ye, "class embedding (10 digits + none)");
    let cond = add2(&mut g, te, ye);
    g.title(cond, "time + class");
    // A block: conv, group norm, GELU, add the conditioning per channel, conv, group norm, GELU.
    let block = |g: &mut GraphBuilder, prev: NodeId, c: i64| {
        let a = conv(g, prev, c, 3, 1, 1, true);
        let a = t(g, a, "group_norm", &[("groups", 8.into())]);
        let a = t(g, a, "gelu", &[]);
        let p = linear(g, cond, c);
        let p = t(g, p, "reshape", &[("shape", shape(&format!("B,{c},1,1")))]);
        let a = add2(g, a, p);
        let b = conv(g, a, c, 3, 1, 1, true);
        let b = t(g, b, "group_norm", &[("groups", 8.into())]);
        t(g, b, "gelu", &[])
    };
    let h0 = conv(&mut g, x, 16, 3, 1, 1, true);
    let e1 = block(&mut g, h0, 16);
    let d1 = conv(&mut g, e1, 32, 4, 2, 1, true);
    let e2 = block(&mut g, d1, 32);
    let d2 = conv(&mut g, e2, 32, 4, 2, 1, true);
    let mid = block(&mut g, d2, 32);
    // One self-attention block at the 7×7 bottleneck (Ho et al. attend at 16×16): the 49
    // positions as tokens of 32 channels, layer norm, 4 heads, added back.
    let tok = t(&mut g, mid, "reshape", &[("shape", shape("B,32,49"))]);
    let tok = t(&mut g, tok, "transpose", &[("dim0", 1.into()), ("dim1", 2.into())]);
    let ln = t(&mut g, tok, "layer_norm", &[]);
    let att = t(&mut g, ln, "multi_head_attention", &[("heads", 4.into())]);
    let res = add2(&mut g, tok, att);
    g.title(res, "attention at 7×7 (+ skip)");
    let back = t(&mut g, res, "transpose", &[("dim0", 1.into()), ("dim1", 2.into())]);
    let mid = t(&mut g, back, "reshape", &[("shape", shape("B,32,7,7"))]);
    let mut h = mid;
    for (skip, c) in [(e2, 32), (e1, 16)] {
        let up = t(&mut g, h, "conv_transpose2d", &[("out_channels", c.into())]);
        let cat = g.node("concat", &[]);
        g.wire(skip, "y", cat, "x0");
        g.wire(up, "y", cat, "x1");
        h = block(&mut g, cat, c);
    }
    let o = conv(&mut g, h, 1, 1, 1, 0, true);
    g.title(o, "predicted noise ε");
    output(&mut g, o, "y", "noise_pred");
    pre.save(g);
}

fn dcgan() {
    let pre = Pre::new(
        "dcgan",
        "DCGAN on MNIST",
        "Generative adversarial network",
        "Generative",
        "Radford, Metz & Chintala, Unsupervised Representation Learning with Deep Convolutional GANs, ICLR 2016",
        "gan",
    )
    .describe("A generator turns 64 random numbers into a digit with transposed convolutions; a convolutional discriminator tells them from real MNIST digits; each has its own optimizer.")
    .dataset("mnist_5k", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 2e-4;
        t.batch_size = 64;
        t.steps = 3000;
    });
    let mut g = GraphBuilder::new();
    let z = g.node(
        "input",
        &[
            ("shape", shape("B,64")),
            ("dtype", "float".into()),
            ("field", "z".into()),
            ("source", "noise".into()),
        ],
    );
    g.title(z, "noise z");
    let l = linear(&mut g, z, 64 * 7 * 7);
    let u = t(&mut g, l, "reshape", &[("shape", shape("B,64,7,7"))]);
    let b1 = t(&mut g, u, "batch_norm", &[]);
    let r1 = t(&mut g, b1, "relu", &[]);
    let up = |g: &mut GraphBuilder, prev: NodeId, out: i64| {
        t(
            g,
            prev,
            "conv_transpose2d",
            &[
                ("out_channels", out.into()),
                ("kernel_size", 4.into()),
                ("stride", 2.into()),
                ("padding", 1.into()),
            ],
        )
    };
    let t1 = up(&mut g, r1, 32);
    let b2 = t(&mut g, t1, "batch_norm", &[]);
    let r2 = t(&mut g, b2, "relu", &[]);
    let t2 = up(&mut g, r2, 1);
    let img = t(&mut g, t2, "tanh", &[]);
    g.title(img, "generated image");
    output(&mut g, img, "y", "fake");
    let c1 = conv(&mut g, img, 32, 4, 2, 1, true);
    let a1 = t(&mut g, c1, "leaky_relu", &[("slope", 0.2.into())]);
    let c2 = conv(&mut g, a1, 64, 4, 2, 1, true);
    let b3 = t(&mut g, c2, "batch_norm", &[]);
    let a2 = t(&mut g, b3, "leaky_relu", &[("slope", 0.2.into())]);
    let f = t(&mut g, a2, "flatten", &[]);
    let s = linear(&mut g, f, 1);
    g.title(s, "real or fake?");
    output(&mut g, s, "y", "score");
    pre.save(g);
}

fn imagenet_head(g: &mut GraphBuilder, prev: NodeId) {
    output(g, prev, "y", "prediction");
}

fn alexnet() {
    let pre = Pre::new(
        "alexnet",
        "AlexNet",
        "Deep convolutional network",
        "Convolutional",
        "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep CNNs, NeurIPS 2012",
        "supervised",
    )
    .reference("torchvision.models.alexnet", 61_100_840)
    .describe("torchvision's AlexNet (single-tower variant) for 224×224 ImageNet images.")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.01;
        t.batch_size = 128;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = x;
    for (out, k, s, p, pool) in [
        (64, 11, 4, 2, true),
        (192, 5, 1, 2, true),
        (384, 3, 1, 1, false),
        (256, 3, 1, 1, false),
        (256, 3, 1, 1, true),
    ] {
        h = conv(&mut g, h, out, k, s, p, true);
        h = t(&mut g, h, "relu", &[]);
        if pool {
            h = t(
                &mut g,
                h,
                "max_pool2d",
                &[("kernel_size", 3.into()), ("stride", 2.into())],
            );
        }
    }
    h = t(
        &mut g,
        h,
        "adaptive_avg_pool2d",
        &[("out_h", 6.into()), ("out_w", 6.into())],
    );
    h = t(&mut g, h, "flatten", &[]);
    for _ in 0..2 {
        h = t(&mut g, h, "dropout", &[("p", 0.5.into())]);
        h = linear(&mut g, h, 4096);
        h = t(&mut g, h, "relu", &[]);
    }
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

fn vgg16() {
    let mut pre = Pre::new(
        "vgg16",
        "VGG-16",
        "Very deep plain convolutional network",
        "Convolutional",
        "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015",
        "supervised",
    )
    .reference("torchvision.models.vgg16", 138_357_544)
    .describe("Configuration D: thirteen 3×3 convolutions in five stages, then three dense layers.")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.01;
    });
    // One block per width: 3×3 conv + ReLU.
    for w in [64, 128, 256, 512] {
        let mut b = GraphBuilder::new();
        let x = port_in(&mut b, "x", 0);
        let c = conv(&mut b, x, w, 3, 1, 1, true);
        let r = t(&mut b, c, "relu", &[]);
        port_out(&mut b, r, "y", 0);
        pre.block(&format!("conv3_{w}"), &format!("Conv 3×3 {w} + ReLU"), b);
    }
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = x;
    for (w, n) in [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)] {
        h = block_node(
            &mut g,
            &format!("conv3_{w}"),
            n,
            &format!("conv {w} ×{n}"),
            &[(h, "y", "x")],
        );
        h = t(&mut g, h, "max_pool2d", &[("kernel_size", 2.into())]);
    }
    h = t(
        &mut g,
        h,
        "adaptive_avg_pool2d",
        &[("out_h", 7.into()), ("out_w", 7.into())],
    );
    h = t(&mut g, h, "flatten", &[]);
    for _ in 0..2 {
        h = linear(&mut g, h, 4096);
        h = t(&mut g, h, "relu", &[]);
        h = t(&mut g, h, "dropout", &[("p", 0.5.into())]);
    }
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

fn conv_bn(g: &mut GraphBuilder, prev: NodeId, out: i64, k: i64, s: i64, p: i64, eps: f64) -> NodeId {
    let c = conv(g, prev, out, k, s, p, false);
    if (eps - 1e-5).abs() < 1e-12 {
        t(g, c, "batch_norm", &[])
    } else {
        t(g, c, "batch_norm", &[("eps", eps.into())])
    }
}

/// ResNet basic block (`stride` 2 adds the 1×1 projection shortcut).
fn resnet_block(pre: &mut Pre, width: i64, stride: i64) -> String {
    let id = if stride == 1 {
        format!("basic_{width}")
    } else {
        format!("down_{width}")
    };
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let mut h = conv_bn(&mut b, x, width, 3, stride, 1, 1e-5);
    h = t(&mut b, h, "relu", &[]);
    h = conv_bn(&mut b, h, width, 3, 1, 1, 1e-5);
    let shortcut = if stride == 1 {
        x
    } else {
        conv_bn(&mut b, x, width, 1, stride, 0, 1e-5)
    };
    let s = add2(&mut b, shortcut, h);
    let r = t(&mut b, s, "relu", &[]);
    port_out(&mut b, r, "y", 0);
    let name = if stride == 1 {
        format!("Basic block {width}")
    } else {
        format!("Basic block {width}, stride 2")
    };
    pre.block(&id, &name, b);
    id
}

fn resnet18() {
    let mut pre = Pre::new(
        "resnet18",
        "ResNet-18",
        "Residual network",
        "Convolutional",
        "He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016",
        "supervised",
    )
    .reference("torchvision.models.resnet18", 11_689_512)
    .describe(
        "Four stages of two basic residual blocks each; identity shortcuts, 1×1 projections where the size changes.",
    )
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.1;
        t.weight_decay = 1e-4;
        t.schedule = Schedule::Cosine;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = conv_bn(&mut g, x, 64, 7, 2, 3, 1e-5);
    h = t(&mut g, h, "relu", &[]);
    h = t(
        &mut g,
        h,
        "max_pool2d",
        &[("kernel_size", 3.into()), ("stride", 2.into()), ("padding", 1.into())],
    );
    let b64 = resnet_block(&mut pre, 64, 1);
    h = block_node(&mut g, &b64, 2, "layer1", &[(h, "y", "x")]);
    for w in [128, 256, 512] {
        let down = resnet_block(&mut pre, w, 2);
        let basic = resnet_block(&mut pre, w, 1);
        h = block_node(
            &mut g,
            &down,
            1,
            &format!("layer{} (down)", w.trailing_zeros() - 5),
            &[(h, "y", "x")],
        );
        h = block_node(
            &mut g,
            &basic,
            1,
            &format!("layer{}", w.trailing_zeros() - 5),
            &[(h, "y", "x")],
        );
    }
    h = t(&mut g, h, "adaptive_avg_pool2d", &[]);
    h = t(&mut g, h, "flatten", &[]);
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

fn resnet_mini() {
    let mut pre = Pre::new(
        "resnet_mini",
        "ResNet-mini on Fashion-MNIST",
        "Residual network",
        "Convolutional",
        "He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016",
        "supervised",
    )
    .describe("A small residual network (a stride-2 stem, then widths 16, 32, 64 with one basic block per stage) that trains on the Fashion-MNIST subset in minutes on a CPU.")
    .dataset("fashion_mnist", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 2e-3;
        t.batch_size = 64;
        t.steps = 1500;
        t.schedule = Schedule::Cosine;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let mut h = conv_bn(&mut g, x, 16, 3, 2, 1, 1e-5);
    h = t(&mut g, h, "relu", &[]);
    let b16 = resnet_block(&mut pre, 16, 1);
    h = block_node(&mut g, &b16, 1, "stage 1", &[(h, "y", "x")]);
    for (i, w) in [32, 64].into_iter().enumerate() {
        let down = resnet_block(&mut pre, w, 2);
        h = block_node(&mut g, &down, 1, &format!("stage {}", i + 2), &[(h, "y", "x")]);
    }
    h = t(&mut g, h, "global_avg_pool", &[]);
    h = linear(&mut g, h, 10);
    output(&mut g, h, "y", "prediction");
    pre.save(g);
}

fn googlenet() {
    let mut pre = Pre::new(
        "googlenet",
        "GoogLeNet (Inception v1)",
        "Inception network",
        "Convolutional",
        "Szegedy et al., Going Deeper with Convolutions, CVPR 2015",
        "supervised",
    )
    .reference("torchvision.models.googlenet (aux_logits=False)", 6_624_904)
    .describe("Nine Inception modules: parallel 1×1, 3×3, 5×5 (3×3 in torchvision) and pooling branches, concatenated. Convolutions carry BatchNorm as in torchvision.")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.01;
    });
    let eps = 1e-3;
    let bconv = |g: &mut GraphBuilder, prev: NodeId, out: i64, k: i64, s: i64, p: i64| -> NodeId {
        let c = conv_bn(g, prev, out, k, s, p, eps);
        t(g, c, "relu", &[])
    };
    let pool = |g: &mut GraphBuilder, prev: NodeId, k: i64, s: i64, p: i64| -> NodeId {
        let mut params = vec![
            ("kernel_size", V::Int(k)),
            ("stride", V::Int(s)),
            ("ceil_mode", V::Bool(true)),
        ];
        if p > 0 {
            params.push(("padding", V::Int(p)));
        }
        g.then(prev, "max_pool2d", &params)
    };
    let modules: [(&str, [i64; 6]); 9] = [
        ("3a", [64, 96, 128, 16, 32, 32]),
        ("3b", [128, 128, 192, 32, 96, 64]),
        ("4a", [192, 96, 208, 16, 48, 64]),
        ("4b", [160, 112, 224, 24, 64, 64]),
        ("4c", [128, 128, 256, 24, 64, 64]),
        ("4d", [112, 144, 288, 32, 64, 64]),
        ("4e", [256, 160, 320, 32, 128, 128]),
        ("5a", [256, 160, 320, 32, 128, 128]),
        ("5b", [384, 192, 384, 48, 128, 128]),
    ];
    for (name, [c1, r3, c3, r5, c5, pp]) in modules {
        let mut b = GraphBuilder::new();
        let x = port_in(&mut b, "x", 0);
        let b1 = bconv(&mut b, x, c1, 1, 1, 0);
        let b2a = bconv(&mut b, x, r3, 1, 1, 0);
        let b2 = bconv(&mut b, b2a, c3, 3, 1, 1);
        let b3a = bconv(&mut b, x, r5, 1, 1, 0);
        let b3 = bconv(&mut b, b3a, c5, 3, 1, 1);
        let b4a = pool(&mut b, x, 3, 1, 1);
        let b4 = bconv(&mut b, b4a, pp, 1, 1, 0);
        let cat = b.node("concat", &[("inputs", 4.into())]);
        for (i, br) in [b1, b2, b3, b4].into_iter().enumerate() {
            b.wire(br, "y", cat, &format!("x{i}"));
        }
        port_out(&mut b, cat, "y", 0);
        pre.block(&format!("inception_{name}"), &format!("Inception {name}"), b);
    }
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = bconv(&mut g, x, 64, 7, 2, 3);
    h = pool(&mut g, h, 3, 2, 0);
    h = bconv(&mut g, h, 64, 1, 1, 0);
    h = bconv(&mut g, h, 192, 3, 1, 1);
    h = pool(&mut g, h, 3, 2, 0);
    for name in ["3a", "3b"] {
        h = block_node(
            &mut g,
            &format!("inception_{name}"),
            1,
            &format!("Inception {name}"),
            &[(h, "y", "x")],
        );
    }
    h = pool(&mut g, h, 3, 2, 0);
    for name in ["4a", "4b", "4c", "4d", "4e"] {
        h = block_node(
            &mut g,
            &format!("inception_{name}"),
            1,
            &format!("Inception {name}"),
            &[(h, "y", "x")],
        );
    }
    h = pool(&mut g, h, 2, 2, 0);
    for name in ["5a", "5b"] {
        h = block_node(
            &mut g,
            &format!("inception_{name}"),
            1,
            &format!("Inception {name}"),
            &[(h, "y", "x")],
        );
    }
    h = t(&mut g, h, "adaptive_avg_pool2d", &[]);
    h = t(&mut g, h, "flatten", &[]);
    h = t(&mut g, h, "dropout", &[("p", 0.2.into())]);
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

fn densenet121() {
    let mut pre = Pre::new(
        "densenet121",
        "DenseNet-121",
        "Densely connected network",
        "Convolutional",
        "Huang, Liu, van der Maaten & Weinberger, Densely Connected Convolutional Networks, CVPR 2017",
        "supervised",
    )
    .reference("torchvision.models.densenet121", 7_978_856)
    .describe("Each dense layer sees the concatenation of all earlier feature maps of its block (growth rate 32, blocks of 6, 12, 24, 16 layers).")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.1;
    });
    // One definition serves every block: input channels are inferred.
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let mut h = t(&mut b, x, "batch_norm", &[]);
    h = t(&mut b, h, "relu", &[]);
    h = conv(&mut b, h, 128, 1, 1, 0, false);
    h = t(&mut b, h, "batch_norm", &[]);
    h = t(&mut b, h, "relu", &[]);
    h = conv(&mut b, h, 32, 3, 1, 1, false);
    let cat = b.node("concat", &[]);
    b.wire(x, "y", cat, "x0");
    b.wire(h, "y", cat, "x1");
    port_out(&mut b, cat, "y", 0);
    pre.block("dense_layer", "Dense layer (growth 32)", b);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = conv_bn(&mut g, x, 64, 7, 2, 3, 1e-5);
    h = t(&mut g, h, "relu", &[]);
    h = t(
        &mut g,
        h,
        "max_pool2d",
        &[("kernel_size", 3.into()), ("stride", 2.into()), ("padding", 1.into())],
    );
    let mut channels = 64;
    for (i, n) in [6, 12, 24, 16].into_iter().enumerate() {
        h = block_node(
            &mut g,
            "dense_layer",
            n,
            &format!("denseblock{}", i + 1),
            &[(h, "y", "x")],
        );
        channels += 32 * n as i64;
        if i < 3 {
            channels /= 2;
            h = t(&mut g, h, "batch_norm", &[]);
            h = t(&mut g, h, "relu", &[]);
            h = conv(&mut g, h, channels, 1, 1, 0, false);
            g.title(h, &format!("transition{}", i + 1));
            h = t(&mut g, h, "avg_pool2d", &[("kernel_size", 2.into())]);
        }
    }
    h = t(&mut g, h, "batch_norm", &[]);
    h = t(&mut g, h, "relu", &[]);
    h = t(&mut g, h, "adaptive_avg_pool2d", &[]);
    h = t(&mut g, h, "flatten", &[]);
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

fn efficientnet_b0() {
    let mut pre = Pre::new(
        "efficientnet_b0",
        "EfficientNet-B0",
        "Mobile inverted bottleneck network",
        "Convolutional",
        "Tan & Le, EfficientNet: Rethinking Model Scaling for CNNs, ICML 2019",
        "supervised",
    )
    .reference("torchvision.models.efficientnet_b0", 5_288_548)
    .describe("MBConv blocks: 1×1 expansion, depthwise convolution, squeeze-and-excitation, 1×1 projection, residual where shapes allow.")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 1e-3;
    });
    let eps = 1e-3;
    let stages: [(i64, i64, i64, i64, i64, u32); 7] = [
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ];
    let mbconv = |pre: &mut Pre, id: &str, expand: i64, k: i64, s: i64, cin: i64, cout: i64| {
        let mut b = GraphBuilder::new();
        let x = port_in(&mut b, "x", 0);
        let hidden = cin * expand;
        let mut h = x;
        if expand != 1 {
            h = conv_bn(&mut b, h, hidden, 1, 1, 0, eps);
            h = t(&mut b, h, "silu", &[]);
        }
        let dw = b.then(
            h,
            "conv2d",
            &[
                ("out_channels", hidden.into()),
                ("kernel_size", k.into()),
                ("stride", s.into()),
                ("padding", ((k - 1) / 2).into()),
                ("groups", hidden.into()),
                ("bias", false.into()),
            ],
        );
        b.title(dw, "depthwise");
        h = t(&mut b, dw, "batch_norm", &[("eps", eps.into())]);
        h = t(&mut b, h, "silu", &[]);
        // Squeeze-and-excitation.
        let sq = t(&mut b, h, "adaptive_avg_pool2d", &[]);
        let f1 = conv(&mut b, sq, (cin / 4).max(1), 1, 1, 0, true);
        let a1 = t(&mut b, f1, "silu", &[]);
        let f2 = conv(&mut b, a1, hidden, 1, 1, 0, true);
        let gate = t(&mut b, f2, "sigmoid", &[]);
        let se = b.node("multiply", &[]);
        b.wire(h, "y", se, "x0");
        b.wire(gate, "y", se, "x1");
        h = conv_bn(&mut b, se, cout, 1, 1, 0, eps);
        if s == 1 && cin == cout {
            let sd = t(&mut b, h, "dropout", &[("p", 0.0.into())]);
            b.title(sd, "stochastic depth");
            h = add2(&mut b, x, sd);
        }
        port_out(&mut b, h, "y", 0);
        pre.block(id, &format!("MBConv{expand} {k}×{k}, {cin}→{cout}, stride {s}"), b);
    };
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = conv_bn(&mut g, x, 32, 3, 2, 1, eps);
    h = t(&mut g, h, "silu", &[]);
    for (i, (e, k, s, cin, cout, n)) in stages.into_iter().enumerate() {
        let first = format!("mbconv{}_first", i + 1);
        mbconv(&mut pre, &first, e, k, s, cin, cout);
        h = block_node(&mut g, &first, 1, &format!("stage {}", i + 1), &[(h, "y", "x")]);
        if n > 1 {
            let rest = format!("mbconv{}", i + 1);
            mbconv(&mut pre, &rest, e, k, 1, cout, cout);
            h = block_node(
                &mut g,
                &rest,
                n - 1,
                &format!("stage {} repeats", i + 1),
                &[(h, "y", "x")],
            );
        }
    }
    h = conv_bn(&mut g, h, 1280, 1, 1, 0, eps);
    h = t(&mut g, h, "silu", &[]);
    h = t(&mut g, h, "adaptive_avg_pool2d", &[]);
    h = t(&mut g, h, "flatten", &[]);
    h = t(&mut g, h, "dropout", &[("p", 0.2.into())]);
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

/// Pre-LN transformer encoder layer: x → LN → MHA → +x → LN → MLP → +.
fn pre_ln_layer(pre: &mut Pre, id: &str, name: &str, heads: i64, d: i64, ff: i64, eps: f64, causal: bool, gelu: &str) {
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[("eps", eps.into())]);
    let mut attn_params: Vec<(&str, V)> = vec![("heads", heads.into())];
    if causal {
        attn_params.push(("causal", true.into()));
    }
    let a = t(&mut b, ln1, "multi_head_attention", &attn_params);
    let ad = t(&mut b, a, "dropout", &[("p", 0.1.into())]);
    let r1 = add2(&mut b, x, ad);
    let ln2 = t(&mut b, r1, "layer_norm", &[("eps", eps.into())]);
    let f1 = linear(&mut b, ln2, ff);
    let act = t(&mut b, f1, "gelu", &[("approximate", gelu.into())]);
    let f2 = linear(&mut b, act, d);
    let fd = t(&mut b, f2, "dropout", &[("p", 0.1.into())]);
    let r2 = add2(&mut b, r1, fd);
    port_out(&mut b, r2, "y", 0);
    pre.block(id, name, b);
}

fn vit_b_16() {
    let mut pre = Pre::new(
        "vit_b_16",
        "ViT-B/16",
        "Vision transformer",
        "Transformer",
        "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale, ICLR 2021",
        "supervised",
    )
    .reference("torchvision.models.vit_b_16", 86_567_656)
    .describe("16×16 patches become 196 tokens, a class token is prepended, 12 pre-LN encoder layers, the class token is classified.")
    .dataset("imagenet", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 3e-4;
        t.weight_decay = 0.1;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
    });
    pre_ln_layer(
        &mut pre,
        "vit_encoder_layer",
        "Encoder layer (pre-LN)",
        12,
        768,
        3072,
        1e-6,
        false,
        "none",
    );
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,3,224,224", "float", "image");
    let mut h = t(&mut g, x, "patch_embed", &[("patch", 16.into()), ("dim", 768.into())]);
    h = t(&mut g, h, "class_token", &[]);
    h = t(&mut g, h, "positional_learned", &[("max_len", 197.into())]);
    h = t(&mut g, h, "dropout", &[("p", 0.0.into())]);
    h = block_node(&mut g, "vit_encoder_layer", 12, "encoder ×12", &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[("eps", 1e-6.into())]);
    h = t(&mut g, h, "select", &[("dim", 1.into()), ("index", 0.into())]);
    g.title(h, "class token");
    h = linear(&mut g, h, 1000);
    imagenet_head(&mut g, h);
    pre.save(g);
}

/// A small vision transformer that trains on MNIST on a laptop CPU.
fn vit_mnist() {
    let mut pre = Pre::new(
        "vit_mnist",
        "ViT on MNIST",
        "Vision transformer",
        "Transformer",
        "Dosovitskiy et al., An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale, ICLR 2021",
        "supervised",
    )
    .describe("7×7 patches of a 28×28 digit become 16 tokens of width 64, a class token is prepended, 3 pre-LN encoder layers, the class token is classified.")
    .dataset("mnist_5k", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 2e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 64;
        t.steps = 1500;
    });
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let a = t(&mut b, ln1, "multi_head_attention", &[("heads", 4.into())]);
    let r1 = add2(&mut b, x, a);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let f1 = linear(&mut b, ln2, 128);
    let act = t(&mut b, f1, "gelu", &[]);
    let f2 = linear(&mut b, act, 64);
    let r2 = add2(&mut b, r1, f2);
    port_out(&mut b, r2, "y", 0);
    pre.block("vit_small_layer", "Encoder layer (pre-LN)", b);
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,28,28", "float", "image");
    let mut h = t(&mut g, x, "patch_embed", &[("patch", 7.into()), ("dim", 64.into())]);
    h = t(&mut g, h, "class_token", &[]);
    h = t(&mut g, h, "positional_learned", &[("max_len", 17.into())]);
    h = block_node(&mut g, "vit_small_layer", 3, "encoder ×3", &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[]);
    h = t(&mut g, h, "select", &[("dim", 1.into()), ("index", 0.into())]);
    g.title(h, "class token");
    let o = linear(&mut g, h, 10);
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn unet() {
    let mut pre = Pre::new(
        "unet",
        "U-Net",
        "Encoder-decoder with skip connections",
        "Convolutional",
        "Ronneberger, Fischer & Brox, U-Net: Convolutional Networks for Biomedical Image Segmentation, MICCAI 2015",
        "supervised",
    )
    .reference("Ronneberger et al. 2015: 1 input channel, 2 classes, unpadded 3×3 convolutions, no batch norm", 31_030_658)
    .describe("Contracting path of double 3×3 convolutions and max pooling, expanding path of 2×2 up-convolutions; cropped skip connections. 572×572 in, 388×388×2 segmentation out.")
    .dataset("", &[])
    .training(|t| {
        t.optimizer = Optimizer::Sgd;
        t.learning_rate = 0.01;
        t.momentum = 0.99;
        t.batch_size = 1;
    });
    for w in [64, 128, 256, 512, 1024] {
        let mut b = GraphBuilder::new();
        let x = port_in(&mut b, "x", 0);
        let mut h = conv(&mut b, x, w, 3, 1, 0, true);
        h = t(&mut b, h, "relu", &[]);
        h = conv(&mut b, h, w, 3, 1, 0, true);
        h = t(&mut b, h, "relu", &[]);
        port_out(&mut b, h, "y", 0);
        pre.block(&format!("double_conv_{w}"), &format!("Double conv 3×3 {w}"), b);
    }
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "image", "B,1,572,572", "float", "image");
    let mut skips = Vec::new();
    let mut h = x;
    for w in [64, 128, 256, 512] {
        h = block_node(
            &mut g,
            &format!("double_conv_{w}"),
            1,
            &format!("down {w}"),
            &[(h, "y", "x")],
        );
        skips.push(h);
        h = t(&mut g, h, "max_pool2d", &[("kernel_size", 2.into())]);
    }
    h = block_node(&mut g, "double_conv_1024", 1, "bottom 1024", &[(h, "y", "x")]);
    for w in [512, 256, 128, 64] {
        let up = g.then(
            h,
            "conv_transpose2d",
            &[
                ("out_channels", w.into()),
                ("kernel_size", 2.into()),
                ("stride", 2.into()),
            ],
        );
        g.title(up, &format!("up-conv {w}"));
        let skip = skips.pop().unwrap_or(x);
        let crop = g.node("crop_to", &[]);
        g.wire(skip, "y", crop, "x");
        g.wire(up, "y", crop, "like");
        let cat = g.node("concat", &[]);
        g.wire(crop, "y", cat, "x0");
        g.wire(up, "y", cat, "x1");
        h = block_node(
            &mut g,
            &format!("double_conv_{w}"),
            1,
            &format!("up {w}"),
            &[(cat, "y", "x")],
        );
    }
    h = conv(&mut g, h, 2, 1, 1, 0, true);
    output(&mut g, h, "y", "prediction");
    pre.save(g);
}

/// Post-LN transformer layer (Vaswani / BERT). With `cross`, a second attention over `memory`.
fn post_ln_layer(
    pre: &mut Pre,
    id: &str,
    name: &str,
    heads: i64,
    d: i64,
    ff: i64,
    eps: f64,
    causal: bool,
    cross: bool,
    mask: bool,
    act: &str,
) {
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let memory = cross.then(|| port_in(&mut b, "memory", 1));
    // The source's padding mask: on self-attention in an encoder, on cross-attention in a decoder.
    let mask_in = mask.then(|| port_in(&mut b, "mask", if cross { 2 } else { 1 }));
    let mut sa: Vec<(&str, V)> = vec![("heads", heads.into())];
    if causal {
        sa.push(("causal", true.into()));
    }
    let a = t(&mut b, x, "multi_head_attention", &sa);
    if let Some(m) = mask_in.filter(|_| !cross) {
        b.wire(m, "y", a, "mask");
    }
    let ad = t(&mut b, a, "dropout", &[("p", 0.1.into())]);
    let r1 = add2(&mut b, x, ad);
    let mut h = t(&mut b, r1, "layer_norm", &[("eps", eps.into())]);
    if let Some(mem) = memory {
        let ca = t(&mut b, h, "multi_head_attention", &[("heads", heads.into())]);
        b.title(ca, "cross-attention");
        b.wire(mem, "y", ca, "kv");
        if let Some(m) = mask_in {
            b.wire(m, "y", ca, "mask");
        }
        let cd = t(&mut b, ca, "dropout", &[("p", 0.1.into())]);
        let r = add2(&mut b, h, cd);
        h = t(&mut b, r, "layer_norm", &[("eps", eps.into())]);
    }
    let f1 = linear(&mut b, h, ff);
    let a2 = t(&mut b, f1, act, &[]);
    let f2 = linear(&mut b, a2, d);
    let fd = t(&mut b, f2, "dropout", &[("p", 0.1.into())]);
    let r2 = add2(&mut b, h, fd);
    let out = t(&mut b, r2, "layer_norm", &[("eps", eps.into())]);
    port_out(&mut b, out, "y", 0);
    pre.block(id, name, b);
}

fn transformer() {
    let mut pre = Pre::new(
        "transformer",
        "Transformer (base)",
        "Encoder-decoder transformer",
        "Transformer",
        "Vaswani et al., Attention Is All You Need, NeurIPS 2017",
        "seq2seq",
    )
    .describe("The base model: 6 encoder and 6 decoder post-LN layers, d_model 512, 8 heads, FFN 2048, sinusoidal positions; one 37 000-token table shared by source, target and the output layer (the paper's 65M counts 63.1M).")
    .dataset("", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 4000;
    });
    post_ln_layer(
        &mut pre,
        "encoder_layer",
        "Encoder layer",
        8,
        512,
        2048,
        1e-5,
        false,
        false,
        false,
        "relu",
    );
    post_ln_layer(
        &mut pre,
        "decoder_layer",
        "Decoder layer",
        8,
        512,
        2048,
        1e-5,
        true,
        true,
        false,
        "relu",
    );
    let mut g = GraphBuilder::new();
    let src = input(&mut g, "source tokens", "B,S", "int", "source");
    let tgt = input(&mut g, "target tokens", "B,T", "int", "target");
    let emb = g.then(
        src,
        "embedding",
        &[("num_embeddings", 37000.into()), ("dim", 512.into())],
    );
    g.title(emb, "shared embedding");
    let es = t(&mut g, emb, "scale", &[("factor", (512f64).sqrt().into())]);
    let mut e = t(&mut g, es, "positional_sinusoidal", &[]);
    e = t(&mut g, e, "dropout", &[("p", 0.1.into())]);
    let memory = block_node(&mut g, "encoder_layer", 6, "encoder ×6", &[(e, "y", "x")]);
    let temb = g.node("tied_embedding", &[]);
    g.wire(tgt, "y", temb, "ids");
    g.wire(emb, "weight", temb, "weight");
    let ts = t(&mut g, temb, "scale", &[("factor", (512f64).sqrt().into())]);
    let mut d = t(&mut g, ts, "positional_sinusoidal", &[]);
    d = t(&mut g, d, "dropout", &[("p", 0.1.into())]);
    d = block_node(
        &mut g,
        "decoder_layer",
        6,
        "decoder ×6",
        &[(d, "y", "x"), (memory, "y", "memory")],
    );
    let logits = g.node("matmul", &[("transpose_b", true.into())]);
    g.wire(d, "y", logits, "a");
    g.wire(emb, "weight", logits, "b");
    g.title(logits, "tied output layer");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn bert_base() {
    let mut pre = Pre::new(
        "bert_base",
        "BERT-base (uncased)",
        "Bidirectional transformer encoder",
        "Transformer",
        "Devlin, Chang, Lee & Toutanova, BERT: Pre-training of Deep Bidirectional Transformers, NAACL 2019",
        "masked_lm",
    )
    .reference("Hugging Face bert-base-uncased (BertModel with pooler)", 109_482_240)
    .describe("Word, position and segment embeddings, 12 post-LN encoder layers with a padding mask, and the [CLS] pooler. Masked-token logits use the tied word-embedding table (HF's MLM head adds a 768×768 transform, a LayerNorm and an output bias on top).")
    .dataset("", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 1e-4;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
    });
    post_ln_layer(
        &mut pre,
        "bert_layer",
        "BERT layer (post-LN)",
        12,
        768,
        3072,
        1e-12,
        false,
        false,
        true,
        "gelu",
    );
    let mut g = GraphBuilder::new();
    let ids = input(&mut g, "tokens", "B,T", "int", "tokens");
    let seg = input(&mut g, "segments", "B,T", "int", "segments");
    let mask = input(&mut g, "attention mask", "B,T", "int", "mask");
    let word = g.then(
        ids,
        "embedding",
        &[("num_embeddings", 30522.into()), ("dim", 768.into())],
    );
    g.title(word, "word embeddings");
    let pos = t(&mut g, word, "positional_learned", &[("max_len", 512.into())]);
    let segment = g.then(seg, "embedding", &[("num_embeddings", 2.into()), ("dim", 768.into())]);
    g.title(segment, "segment embeddings");
    let sum = add2(&mut g, pos, segment);
    let mut h = t(&mut g, sum, "layer_norm", &[("eps", 1e-12.into())]);
    h = t(&mut g, h, "dropout", &[("p", 0.1.into())]);
    h = block_node(
        &mut g,
        "bert_layer",
        12,
        "encoder ×12",
        &[(h, "y", "x"), (mask, "y", "mask")],
    );
    output(&mut g, h, "y", "hidden");
    let cls = t(&mut g, h, "select", &[("dim", 1.into()), ("index", 0.into())]);
    g.title(cls, "[CLS]");
    let pool = linear(&mut g, cls, 768);
    g.title(pool, "pooler");
    let pt = t(&mut g, pool, "tanh", &[]);
    output(&mut g, pt, "y", "pooled");
    let logits = g.node("matmul", &[("transpose_b", true.into())]);
    g.wire(h, "y", logits, "a");
    g.wire(word, "weight", logits, "b");
    g.title(logits, "tied MLM logits");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn gpt2_small() {
    let mut pre = Pre::new(
        "gpt2_small",
        "GPT-2 small",
        "Decoder-only transformer language model",
        "Transformer",
        "Radford et al., Language Models are Unsupervised Multitask Learners, OpenAI 2019",
        "language_model",
    )
    .reference("Hugging Face gpt2 (GPT2LMHeadModel, tied LM head)", 124_439_808)
    .describe("Token and learned position embeddings, 12 pre-LN causal layers, final LayerNorm, LM head tied to the token table. For viewing and export: its 50 257-token BPE vocabulary is not the character vocabulary of the built-in text (gpt_char trains here).")
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 6e-4;
        t.weight_decay = 0.1;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 8;
    });
    pre_ln_layer(
        &mut pre,
        "gpt2_layer",
        "GPT-2 layer (pre-LN, causal)",
        12,
        768,
        3072,
        1e-5,
        true,
        "tanh",
    );
    let mut g = GraphBuilder::new();
    let ids = input(&mut g, "tokens", "B,T", "int", "tokens");
    let wte = g.then(
        ids,
        "embedding",
        &[("num_embeddings", 50257.into()), ("dim", 768.into())],
    );
    g.title(wte, "wte");
    let mut h = t(&mut g, wte, "positional_learned", &[("max_len", 1024.into())]);
    g.title(h, "wpe");
    h = t(&mut g, h, "dropout", &[("p", 0.1.into())]);
    h = block_node(&mut g, "gpt2_layer", 12, "layers ×12", &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[]);
    g.title(h, "ln_f");
    let logits = g.node("matmul", &[("transpose_b", true.into())]);
    g.wire(h, "y", logits, "a");
    g.wire(wte, "weight", logits, "b");
    g.title(logits, "tied LM head");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

/// A small character-level GPT that trains on Pride and Prejudice on a laptop CPU.
fn gpt_char() {
    const VOCAB: i64 = 75; // distinct characters of the built-in novel
    const D: i64 = 128;
    let mut pre = Pre::new(
        "gpt_char",
        "Character GPT on Austen",
        "Decoder-only transformer language model",
        "Transformer",
        "Radford et al., Improving Language Understanding by Generative Pre-Training, OpenAI 2018 (nanoGPT's character model)",
        "language_model",
    )
    .describe("Characters of Pride and Prejudice predicted from the 64 before them: token and learned position embeddings, 4 pre-LN causal layers of width 128 with 4 heads, final LayerNorm, a Linear to the 75 characters.")
    .dataset("austen", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 3e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 16;
        t.steps = 1000;
    });
    pre.project.recipe.settings.insert("context".into(), 64.into());
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let a = t(
        &mut b,
        ln1,
        "multi_head_attention",
        &[("heads", 4.into()), ("causal", true.into())],
    );
    let r1 = add2(&mut b, x, a);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let f1 = linear(&mut b, ln2, 4 * D);
    let act = t(&mut b, f1, "gelu", &[]);
    let f2 = linear(&mut b, act, D);
    let r2 = add2(&mut b, r1, f2);
    port_out(&mut b, r2, "y", 0);
    pre.block("char_layer", "Transformer layer (pre-LN, causal)", b);
    let mut g = GraphBuilder::new();
    let ids = input(&mut g, "characters", "B,T", "int", "tokens");
    let wte = g.then(ids, "embedding", &[("num_embeddings", VOCAB.into()), ("dim", D.into())]);
    let mut h = t(&mut g, wte, "positional_learned", &[("max_len", 64.into())]);
    h = block_node(&mut g, "char_layer", 4, "layers ×4", &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[]);
    let logits = linear(&mut g, h, VOCAB);
    g.title(logits, "to characters");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn bert_mlm() {
    const VOCAB: i64 = 75; // distinct characters of the built-in novel
    const D: i64 = 128;
    let mut pre = Pre::new(
        "bert_mlm",
        "Character BERT on Austen",
        "Bidirectional transformer encoder (masked LM)",
        "Transformer",
        "Devlin, Chang, Lee & Toutanova, BERT: Pre-training of Deep Bidirectional Transformers, NAACL 2019",
        "masked_lm",
    )
    .describe("BERT's masked-language-model pre-training on the characters of Pride and Prejudice: 15 % of each 32-character window is hidden (80 % [MASK], 10 % a random character, 10 % kept) and predicted from both sides. Token table of the 75 characters + [MASK], sinusoidal positions (learned ones start 50× weaker than the token table and the model sits at the unigram guess for 800+ steps), 4 pre-LN encoder layers of width 128 with 4 heads (no causal mask), final LayerNorm, a Linear to the 75 characters.")
    .dataset("austen", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 3e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 64;
        t.steps = 500;
    });
    pre.project.recipe.settings.insert("context".into(), 32.into());
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let a = t(&mut b, ln1, "multi_head_attention", &[("heads", 4.into())]);
    let r1 = add2(&mut b, x, a);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let f1 = linear(&mut b, ln2, 4 * D);
    let act = t(&mut b, f1, "gelu", &[]);
    let f2 = linear(&mut b, act, D);
    let r2 = add2(&mut b, r1, f2);
    port_out(&mut b, r2, "y", 0);
    pre.block("encoder_layer", "Encoder layer (pre-LN, bidirectional)", b);
    let mut g = GraphBuilder::new();
    let ids = input(&mut g, "characters ([MASK] = 75)", "B,T", "int", "tokens");
    let wte = g.then(
        ids,
        "embedding",
        &[("num_embeddings", (VOCAB + 1).into()), ("dim", D.into())],
    );
    let mut h = t(&mut g, wte, "positional_sinusoidal", &[]);
    h = block_node(&mut g, "encoder_layer", 4, "layers ×4", &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[]);
    let logits = linear(&mut g, h, VOCAB);
    g.title(logits, "to characters");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

/// The synthetic tasks' vocabulary: <pad>, <s>, </s>, digits, '+', space, a–z.
const TASK_VOCAB: i64 = 41;

fn seq2seq_attention() {
    let pre = Pre::new(
        "seq2seq_attention",
        "Seq2seq with attention (reverse)",
        "Encoder–decoder RNN with additive attention",
        "Recurrent",
        "Bahdanau, Cho & Bengio, Neural Machine Translation by Jointly Learning to Align and Translate, ICLR 2015",
        "seq2seq",
    )
    .describe("Writes a string of 4–8 digits backwards. A bidirectional GRU reads the source; a GRU reads the answer so far (the target shifted right behind <s>); Bahdanau's additive attention lets each decoder step look at the source (padding masked) — its weights are the alignment view, an anti-diagonal once it has learned; the decoder state and the context it read are mixed into the next token's scores.")
    .dataset("seq_task", &[("task", "reverse".into()), ("min_length", 4.into()), ("max_length", 8.into())])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 3e-3;
        t.batch_size = 64;
        t.steps = 600;
    });
    let mut g = GraphBuilder::new();
    let src = input(&mut g, "source", "B,S", "int", "source");
    let mask = input(&mut g, "source mask", "B,S", "int", "source_mask");
    let tgt = input(&mut g, "answer so far", "B,T", "int", "target");
    let se = g.then(
        src,
        "embedding",
        &[("num_embeddings", TASK_VOCAB.into()), ("dim", 32.into())],
    );
    let enc = g.then(se, "gru", &[("hidden", 64.into()), ("bidirectional", true.into())]);
    g.title(enc, "encoder");
    let te = g.then(
        tgt,
        "embedding",
        &[("num_embeddings", TASK_VOCAB.into()), ("dim", 32.into())],
    );
    let dec = g.then(te, "gru", &[("hidden", 128.into())]);
    g.title(dec, "decoder");
    let att = g.node("additive_attention", &[("hidden", 64.into())]);
    g.wire(dec, "seq", att, "query");
    g.wire(enc, "seq", att, "keys");
    g.wire(mask, "y", att, "mask");
    let cat = g.node("concat", &[("dim", 2.into())]);
    g.wire(dec, "seq", cat, "x0");
    g.wire(att, "context", cat, "x1");
    let mix = linear(&mut g, cat, 128);
    let th = t(&mut g, mix, "tanh", &[]);
    let logits = linear(&mut g, th, TASK_VOCAB);
    g.title(logits, "to tokens");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn transformer_mini() {
    const D: i64 = 64;
    let mut pre = Pre::new(
        "transformer_mini",
        "Transformer (mini): numbers into words",
        "Encoder-decoder transformer",
        "Transformer",
        "Vaswani et al., Attention Is All You Need, NeurIPS 2017",
        "seq2seq",
    )
    .describe("A toy translation: numbers of 1–4 digits written out in English words (\"3017\" → \"three thousand seventeen\"), character by character. The base transformer's design at width 64: 2 encoder and 2 decoder post-LN layers with 4 heads, sinusoidal positions, the source's padding mask on the encoder's attention and on the decoder's cross-attention to the source.")
    .dataset("seq_task", &[("task", "spell".into()), ("min_length", 1.into()), ("max_length", 4.into())])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 2e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 64;
        t.steps = 1200;
    });
    post_ln_layer(
        &mut pre,
        "encoder_layer",
        "Encoder layer",
        4,
        D,
        4 * D,
        1e-5,
        false,
        false,
        true,
        "relu",
    );
    post_ln_layer(
        &mut pre,
        "decoder_layer",
        "Decoder layer",
        4,
        D,
        4 * D,
        1e-5,
        true,
        true,
        true,
        "relu",
    );
    pre.project.recipe.settings.insert("prompt".into(), "2024".into());
    let mut g = GraphBuilder::new();
    let src = input(&mut g, "digits", "B,S", "int", "source");
    let mask = input(&mut g, "source mask", "B,S", "int", "source_mask");
    let tgt = input(&mut g, "words so far", "B,T", "int", "target");
    let se = g.then(
        src,
        "embedding",
        &[("num_embeddings", TASK_VOCAB.into()), ("dim", D.into())],
    );
    let mut e = t(&mut g, se, "positional_sinusoidal", &[]);
    e = t(&mut g, e, "dropout", &[("p", 0.1.into())]);
    let memory = block_node(
        &mut g,
        "encoder_layer",
        2,
        "encoder ×2",
        &[(e, "y", "x"), (mask, "y", "mask")],
    );
    let te = g.then(
        tgt,
        "embedding",
        &[("num_embeddings", TASK_VOCAB.into()), ("dim", D.into())],
    );
    let mut d = t(&mut g, te, "positional_sinusoidal", &[]);
    d = t(&mut g, d, "dropout", &[("p", 0.1.into())]);
    d = block_node(
        &mut g,
        "decoder_layer",
        2,
        "decoder ×2",
        &[(d, "y", "x"), (memory, "y", "memory"), (mask, "y", "mask")],
    );
    let logits = linear(&mut g, d, TASK_VOCAB);
    g.title(logits, "to characters");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

/// A character language model on Austen around a stack of `layers` copies of the block `block`
/// (the same embedding, final LayerNorm and head as gpt_char, so the five char LMs compare).
fn char_lm(
    mut pre: Pre,
    block: &str,
    block_name: &str,
    b: GraphBuilder,
    layers: u32,
    learned_positions: bool,
    steps: u64,
) {
    const VOCAB: i64 = 75;
    const D: i64 = 128;
    pre = pre.dataset("austen", &[]).training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 3e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 16;
        t.steps = steps;
    });
    pre.project.recipe.settings.insert("context".into(), 64.into());
    pre.block(block, block_name, b);
    let mut g = GraphBuilder::new();
    let ids = input(&mut g, "characters", "B,T", "int", "tokens");
    let mut h = g.then(ids, "embedding", &[("num_embeddings", VOCAB.into()), ("dim", D.into())]);
    if learned_positions {
        h = t(&mut g, h, "positional_learned", &[("max_len", 64.into())]);
    }
    h = block_node(&mut g, block, layers, &format!("layers ×{layers}"), &[(h, "y", "x")]);
    h = t(&mut g, h, "layer_norm", &[]);
    let logits = linear(&mut g, h, VOCAB);
    g.title(logits, "to characters");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn moe_char() {
    let mut pre = Pre::new(
        "moe_char",
        "Mixture-of-experts GPT on Austen",
        "Decoder-only transformer with sparse expert feed-forwards",
        "Transformer",
        "Fedus, Zoph & Shazeer, Switch Transformers, JMLR 2022; Shazeer et al., Outrageously Large Neural Networks, ICLR 2017",
        "language_model",
    )
    .describe("gpt_char with each feed-forward replaced by 4 experts behind a router: every character goes to its top 2 experts, each expert takes at most 1.25 × its even share, and a load-balancing loss (weight 0.01) keeps them evenly used — the same parameters as gpt_char, half its feed-forward compute. Each expert is a copy of the block 'Expert MLP' (Linear 128 → GELU → Linear; open it to change every expert at once, e.g. into a SwiGLU), with weights of its own. The Expert load view shows each expert's share per step.");
    let mut e = GraphBuilder::new();
    let x = port_in(&mut e, "x", 0);
    let up = linear(&mut e, x, 128);
    let act = t(&mut e, up, "gelu", &[]);
    let down = linear(&mut e, act, 128);
    port_out(&mut e, down, "y", 0);
    pre.block("expert_mlp", "Expert MLP", e);
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let a = t(
        &mut b,
        ln1,
        "multi_head_attention",
        &[("heads", 4.into()), ("causal", true.into())],
    );
    let r1 = add2(&mut b, x, a);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let m = t(
        &mut b,
        ln2,
        "moe",
        &[
            ("experts", 4.into()),
            ("top_k", 2.into()),
            ("expert", "expert_mlp".into()),
        ],
    );
    let r2 = add2(&mut b, r1, m);
    port_out(&mut b, r2, "y", 0);
    char_lm(
        pre,
        "moe_layer",
        "Transformer layer with experts (pre-LN, causal)",
        b,
        4,
        true,
        1000,
    );
}

fn mamba_char() {
    let pre = Pre::new(
        "mamba_char",
        "Mamba on Austen",
        "Selective state-space language model",
        "State space",
        "Gu & Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces, 2023",
        "language_model",
    )
    .describe("7 residual Mamba blocks (RMSNorm, then the selective state-space mixer: inner width 256, state 8, causal convolution 4) between the character table and the head — no attention, no position table: the recurrence knows the order. Slow on a CPU: the scan expands every channel into its state at every position (16 × 64 × 256 × 8 numbers per layer and step), which GPU kernels keep in fast memory — 600 steps take about 12 minutes on 2 cores.");
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let n = t(&mut b, x, "rms_norm", &[]);
    let m = t(&mut b, n, "mamba", &[("d_state", 8.into())]);
    let r = add2(&mut b, x, m);
    port_out(&mut b, r, "y", 0);
    char_lm(pre, "mamba_block", "Mamba block (pre-norm, residual)", b, 7, false, 600);
}

fn rwkv_char() {
    let pre = Pre::new(
        "rwkv_char",
        "RWKV on Austen",
        "RNN with transformer-style parallel training",
        "Recurrent",
        "Peng et al., RWKV: Reinventing RNNs for the Transformer Era, EMNLP Findings 2023",
        "language_model",
    )
    .describe("4 RWKV-4 layers of width 128: time-mix (a per-channel exponentially decaying average of past values in place of attention) and channel-mix (squared-ReLU feed-forward, hidden 448, on the token mixed with the one before), each pre-LN and residual; no position table.");
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let tm = t(&mut b, ln1, "rwkv_time_mix", &[]);
    let r1 = add2(&mut b, x, tm);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let cmx = t(&mut b, ln2, "rwkv_channel_mix", &[("hidden", 448.into())]);
    let r2 = add2(&mut b, r1, cmx);
    port_out(&mut b, r2, "y", 0);
    char_lm(
        pre,
        "rwkv_layer",
        "RWKV layer (time-mix, channel-mix)",
        b,
        4,
        false,
        450,
    );
}

fn hyena_char() {
    let pre = Pre::new(
        "hyena_char",
        "Hyena on Austen",
        "Long-convolution language model",
        "Convolutional",
        "Poli et al., Hyena Hierarchy: Towards Larger Convolutional Language Models, ICML 2023",
        "language_model",
    )
    .describe("gpt_char with attention replaced by the Hyena operator (order 2: two gated causal convolutions as long as the window, their filters generated from the position by a small network and faded by a decay per channel); MLPs of hidden 480; no position table.");
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let ln1 = t(&mut b, x, "layer_norm", &[]);
    let hy = t(&mut b, ln1, "hyena", &[]);
    let r1 = add2(&mut b, x, hy);
    let ln2 = t(&mut b, r1, "layer_norm", &[]);
    let f1 = linear(&mut b, ln2, 480);
    let act = t(&mut b, f1, "gelu", &[]);
    let f2 = linear(&mut b, act, 128);
    let r2 = add2(&mut b, r1, f2);
    port_out(&mut b, r2, "y", 0);
    char_lm(pre, "hyena_layer", "Hyena layer (pre-LN)", b, 4, false, 500);
}

/// A T5 layer: pre-norm RMSNorm, attention without biases or scaling over a shared relative
/// position bias, cross-attention in the decoder, a ReLU feed-forward; `size` = (heads, head size,
/// model size, feed-forward size).
fn lstm_forecast() {
    let pre = Pre::new(
        "lstm_forecast",
        "LSTM forecaster (signals)",
        "Recurrent network for time-series regression",
        "Recurrent",
        "Hochreiter & Schmidhuber, Long Short-Term Memory, Neural Computation 1997",
        "supervised",
    )
    .describe("Reads 64 noisy values of a signal (two sines of random period, phase and amplitude) and predicts the next 16 clean ones: an LSTM's last state through a Linear layer, trained on mean squared error. Predicting zero scores 0.46, repeating the last value 1.00.")
    .dataset("signals", &[])
    .training(|t| {
        supervised_training(t);
        t.learning_rate = 3e-3;
        t.steps = 1500;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "past values", "B,64,1", "float", "features");
    let r = g.then(x, "lstm", &[("hidden", 64.into())]);
    let o = g.node("linear", &[("out_features", 16.into())]);
    g.wire(r, "last", o, "x");
    g.title(o, "next 16 values");
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn t5_layer(pre: &mut Pre, decoder: bool, (heads, head_dim, d, ff): (i64, i64, i64, i64)) {
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let (memory, bias) = if decoder {
        (Some(port_in(&mut b, "memory", 1)), port_in(&mut b, "bias", 2))
    } else {
        (None, port_in(&mut b, "bias", 1))
    };
    let attn = |b: &mut GraphBuilder, prev: NodeId, causal: bool| -> NodeId {
        let mut p: Vec<(&str, V)> = vec![
            ("heads", heads.into()),
            ("head_dim", head_dim.into()),
            ("bias", false.into()),
            ("scaled", false.into()),
        ];
        if causal {
            p.push(("causal", true.into()));
        }
        b.then(prev, "multi_head_attention", &p)
    };
    let n1 = t(&mut b, x, "rms_norm", &[]);
    let a = attn(&mut b, n1, decoder);
    b.wire(bias, "y", a, "bias");
    let ad = t(&mut b, a, "dropout", &[("p", 0.1.into())]);
    let mut h = add2(&mut b, x, ad);
    if let Some(mem) = memory {
        let n2 = t(&mut b, h, "rms_norm", &[]);
        let ca = attn(&mut b, n2, false);
        b.title(ca, "cross-attention");
        b.wire(mem, "y", ca, "kv");
        let cd = t(&mut b, ca, "dropout", &[("p", 0.1.into())]);
        h = add2(&mut b, h, cd);
    }
    let n3 = t(&mut b, h, "rms_norm", &[]);
    let f1 = linear_nb(&mut b, n3, ff);
    let r = t(&mut b, f1, "relu", &[]);
    let f2 = linear_nb(&mut b, r, d);
    let fd = t(&mut b, f2, "dropout", &[("p", 0.1.into())]);
    let out = add2(&mut b, h, fd);
    port_out(&mut b, out, "y", 0);
    if decoder {
        pre.block("t5_decoder_layer", "T5 decoder layer", b);
    } else {
        pre.block("t5_encoder_layer", "T5 encoder layer", b);
    }
}

fn t5_tiny() {
    const D: i64 = 64;
    let mut pre = Pre::new(
        "t5_tiny",
        "T5 (tiny): addition",
        "Text-to-text encoder-decoder transformer",
        "Transformer",
        "Raffel et al., Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer, JMLR 2020",
        "seq2seq",
    )
    .describe("t5_small's design at width 64 on a task it can learn here: \"57+468\" → \"525\" (two numbers of 1–3 digits). Pre-norm RMSNorm layers without biases, unscaled attention over bucketed relative position biases (bidirectional in the encoder, causal in the decoder), 2 encoder and 2 decoder layers of 4 heads, one token table for source, target and the tied output layer.")
    .dataset("seq_task", &[("task", "add".into()), ("min_length", 1.into()), ("max_length", 6.into())])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 3e-3;
        t.weight_decay = 0.01;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
        t.batch_size = 64;
        t.steps = 3000;
    });
    pre.project.recipe.settings.insert("prompt".into(), "57+468".into());
    t5_layer(&mut pre, false, (4, 16, D, 4 * D));
    t5_layer(&mut pre, true, (4, 16, D, 4 * D));
    let mut g = GraphBuilder::new();
    let src = input(&mut g, "source tokens", "B,S", "int", "source");
    let tgt = input(&mut g, "target tokens", "B,T", "int", "target");
    let shared = g.then(
        src,
        "embedding",
        &[("num_embeddings", TASK_VOCAB.into()), ("dim", D.into())],
    );
    g.title(shared, "shared");
    let eb = t(
        &mut g,
        shared,
        "relative_position_bias",
        &[("heads", 4.into()), ("buckets", 32.into())],
    );
    let mut enc = block_node(
        &mut g,
        "t5_encoder_layer",
        2,
        "encoder ×2",
        &[(shared, "y", "x"), (eb, "y", "bias")],
    );
    enc = t(&mut g, enc, "rms_norm", &[]);
    g.title(enc, "encoder final norm");
    let temb = g.node("tied_embedding", &[]);
    g.wire(tgt, "y", temb, "ids");
    g.wire(shared, "weight", temb, "weight");
    let db = t(
        &mut g,
        temb,
        "relative_position_bias",
        &[
            ("heads", 4.into()),
            ("buckets", 32.into()),
            ("bidirectional", false.into()),
        ],
    );
    let mut dec = block_node(
        &mut g,
        "t5_decoder_layer",
        2,
        "decoder ×2",
        &[(temb, "y", "x"), (enc, "y", "memory"), (db, "y", "bias")],
    );
    dec = t(&mut g, dec, "rms_norm", &[]);
    g.title(dec, "decoder final norm");
    let sc = t(&mut g, dec, "scale", &[("factor", (D as f64).powf(-0.5).into())]);
    let logits = g.node("matmul", &[("transpose_b", true.into())]);
    g.wire(sc, "y", logits, "a");
    g.wire(shared, "weight", logits, "b");
    g.title(logits, "tied LM head");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

fn t5_small() {
    let mut pre = Pre::new(
        "t5_small",
        "T5-small",
        "Text-to-text encoder-decoder transformer",
        "Transformer",
        "Raffel et al., Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer, JMLR 2020",
        "seq2seq",
    )
    .reference("Hugging Face t5-small (T5ForConditionalGeneration, tied LM head)", 60_506_624)
    .describe("Pre-norm RMSNorm layers without biases, bucketed relative position biases shared across layers, one 32 128-token table for encoder, decoder and LM head.")
    .dataset("", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 1e-3;
    });
    t5_layer(&mut pre, false, (8, 64, 512, 2048));
    t5_layer(&mut pre, true, (8, 64, 512, 2048));
    let mut g = GraphBuilder::new();
    let src = input(&mut g, "source tokens", "B,S", "int", "source");
    let tgt = input(&mut g, "target tokens", "B,T", "int", "target");
    let shared = g.then(
        src,
        "embedding",
        &[("num_embeddings", 32128.into()), ("dim", 512.into())],
    );
    g.title(shared, "shared");
    let e = t(&mut g, shared, "dropout", &[("p", 0.1.into())]);
    let eb = t(
        &mut g,
        e,
        "relative_position_bias",
        &[("heads", 8.into()), ("buckets", 32.into())],
    );
    let mut enc = block_node(
        &mut g,
        "t5_encoder_layer",
        6,
        "encoder ×6",
        &[(e, "y", "x"), (eb, "y", "bias")],
    );
    enc = t(&mut g, enc, "rms_norm", &[]);
    g.title(enc, "encoder final norm");
    let memory = t(&mut g, enc, "dropout", &[("p", 0.1.into())]);
    let temb = g.node("tied_embedding", &[]);
    g.wire(tgt, "y", temb, "ids");
    g.wire(shared, "weight", temb, "weight");
    let d = t(&mut g, temb, "dropout", &[("p", 0.1.into())]);
    let db = t(
        &mut g,
        d,
        "relative_position_bias",
        &[
            ("heads", 8.into()),
            ("buckets", 32.into()),
            ("bidirectional", false.into()),
        ],
    );
    let mut dec = block_node(
        &mut g,
        "t5_decoder_layer",
        6,
        "decoder ×6",
        &[(d, "y", "x"), (memory, "y", "memory"), (db, "y", "bias")],
    );
    dec = t(&mut g, dec, "rms_norm", &[]);
    g.title(dec, "decoder final norm");
    dec = t(&mut g, dec, "dropout", &[("p", 0.1.into())]);
    let sc = t(&mut g, dec, "scale", &[("factor", (512f64).powf(-0.5).into())]);
    let logits = g.node("matmul", &[("transpose_b", true.into())]);
    g.wire(sc, "y", logits, "a");
    g.wire(shared, "weight", logits, "b");
    g.title(logits, "tied LM head");
    output(&mut g, logits, "y", "logits");
    pre.save(g);
}

/// A DiT block with adaLN-Zero (Peebles & Xie): the conditioning c shifts, scales and gates both
/// the attention and the MLP branch; width `d`, `heads` attention heads.
fn dit_block(d: i64, heads: i64) -> GraphBuilder {
    let mut b = GraphBuilder::new();
    let x = port_in(&mut b, "x", 0);
    let c = port_in(&mut b, "c", 1);
    let act = t(&mut b, c, "silu", &[]);
    // Zero-initialised: every block starts as the identity (the gates are 0).
    let m = linear_zero(&mut b, act, 6 * d);
    b.title(m, "adaLN-Zero modulation");
    let parts = b.then(m, "split", &[("parts", 6.into())]);
    let ln1 = t(
        &mut b,
        x,
        "layer_norm",
        &[("eps", 1e-6.into()), ("affine", false.into())],
    );
    let mod1 = b.node("modulate", &[]);
    b.wire(ln1, "y", mod1, "x");
    b.wire(parts, "y0", mod1, "shift");
    b.wire(parts, "y1", mod1, "scale");
    let a = t(&mut b, mod1, "multi_head_attention", &[("heads", heads.into())]);
    let g1 = b.node("gate", &[]);
    b.wire(a, "y", g1, "x");
    b.wire(parts, "y2", g1, "gate");
    let r1 = add2(&mut b, x, g1);
    let ln2 = t(
        &mut b,
        r1,
        "layer_norm",
        &[("eps", 1e-6.into()), ("affine", false.into())],
    );
    let mod2 = b.node("modulate", &[]);
    b.wire(ln2, "y", mod2, "x");
    b.wire(parts, "y3", mod2, "shift");
    b.wire(parts, "y4", mod2, "scale");
    let f1 = linear(&mut b, mod2, 4 * d);
    let ga = t(&mut b, f1, "gelu", &[("approximate", "tanh".into())]);
    let f2 = linear(&mut b, ga, d);
    let g2 = b.node("gate", &[]);
    b.wire(f2, "y", g2, "x");
    b.wire(parts, "y5", g2, "gate");
    let r2 = add2(&mut b, r1, g2);
    port_out(&mut b, r2, "y", 0);
    b
}

/// DiT's final layer: adaLN (shift, scale from c) over a plain layer norm, a linear map to
/// patch² × channels per token, and the patches put back into an image.
fn dit_head(g: &mut GraphBuilder, h: NodeId, c: NodeId, d: i64, patch: i64, channels: i64) -> NodeId {
    let ca = t(g, c, "silu", &[]);
    let cm = linear_zero(g, ca, 2 * d);
    let parts = g.then(cm, "split", &[("parts", 2.into())]);
    let ln = t(g, h, "layer_norm", &[("eps", 1e-6.into()), ("affine", false.into())]);
    let m = g.node("modulate", &[]);
    g.wire(ln, "y", m, "x");
    g.wire(parts, "y0", m, "shift");
    g.wire(parts, "y1", m, "scale");
    // Zero-initialised too: the denoiser starts by predicting ε = 0.
    let proj = linear_zero(g, m, patch * patch * channels);
    t(
        g,
        proj,
        "unpatchify",
        &[("patch", patch.into()), ("channels", channels.into())],
    )
}

fn dit() {
    let mut pre = Pre::new(
        "dit",
        "DiT-S/2",
        "Diffusion transformer",
        "Generative",
        "Peebles & Xie, Scalable Diffusion Models with Transformers, ICCV 2023",
        "diffusion",
    )
    .describe("A transformer denoiser on 2×2 patches of a 32×32×4 latent, conditioned on timestep and class through adaLN-Zero; predicts noise and variance (8 channels). Fixed 2-D sine-cosine positions. Trainable at its own size on a stand-in for latents — MNIST digits padded to 32×32 and repeated into 4 channels — with the ε loss on the first 4 output channels (the variance half is not trained). Slow on a CPU: see the run's step time.")
    .dataset("mnist_5k", &[("pad_to", V::Int(32)), ("channels", V::Int(4))])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 1e-4;
        t.batch_size = 32;
    });
    let d: i64 = 384;
    pre.block("dit_block", "DiT block (adaLN-Zero)", dit_block(d, 6));
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "noisy latent", "B,4,32,32", "float", "x");
    let ts = g.node(
        "input",
        &[
            ("shape", shape("B")),
            ("dtype", "int".into()),
            ("field", "t".into()),
            ("source", "timestep".into()),
        ],
    );
    let ts = g.title(ts, "timestep");
    let y = input(&mut g, "class", "B", "int", "label");
    let mut h = t(&mut g, x, "patch_embed", &[("patch", 2.into()), ("dim", d.into())]);
    h = t(&mut g, h, "positional_sinusoidal", &[("layout", "2d".into())]);
    let te = t(&mut g, ts, "timestep_embedding", &[("dim", 256.into())]);
    let t1 = linear(&mut g, te, d);
    let t2 = t(&mut g, t1, "silu", &[]);
    let t3 = linear(&mut g, t2, d);
    let ye = g.then(y, "embedding", &[("num_embeddings", 1001.into()), ("dim", d.into())]);
    g.title(ye, "class embedding (+1 for unconditional)");
    let c = add2(&mut g, t3, ye);
    g.title(c, "conditioning c");
    h = block_node(
        &mut g,
        "dit_block",
        12,
        "DiT blocks ×12",
        &[(h, "y", "x"), (c, "y", "c")],
    );
    let img = dit_head(&mut g, h, c, d, 2, 8);
    output(&mut g, img, "y", "noise_pred");
    pre.save(g);
}

/// DiT-mini: the DiT recipe at MNIST size (28×28 digits in 4×4 patches: 49 tokens), trained by
/// the same diffusion recipe as `ddpm_unet`.
fn dit_mini() {
    let mut pre = Pre::new(
        "dit_mini",
        "DiT-mini on MNIST",
        "Diffusion transformer",
        "Generative",
        "Peebles & Xie, Scalable Diffusion Models with Transformers, ICCV 2023",
        "diffusion",
    )
    .describe("A diffusion transformer at MNIST size: digits cut into 49 patches of 4×4, four DiT blocks (width 96, 4 heads) conditioned on timestep and class through adaLN-Zero, the patches put back into a predicted noise image. Trained and sampled like ddpm_unet (DDIM 50 steps, classifier-free guidance).")
    .dataset("mnist_5k", &[])
    .training(|t| {
        t.optimizer = Optimizer::AdamW;
        t.learning_rate = 4e-3;
        t.batch_size = 32;
        t.steps = 2000;
        t.schedule = Schedule::WarmupCosine;
        t.warmup_steps = 100;
    });
    let d: i64 = 96;
    pre.block("dit_block", "DiT block (adaLN-Zero)", dit_block(d, 4));
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "noised image x_t", "B,1,28,28", "float", "image");
    let ts = g.node(
        "input",
        &[
            ("shape", shape("B")),
            ("dtype", "int".into()),
            ("field", "t".into()),
            ("source", "timestep".into()),
        ],
    );
    g.title(ts, "timestep t");
    let y = input(&mut g, "class", "B", "int", "label");
    let mut h = t(&mut g, x, "patch_embed", &[("patch", 4.into()), ("dim", d.into())]);
    h = t(&mut g, h, "positional_sinusoidal", &[("layout", "2d".into())]);
    let te = t(&mut g, ts, "timestep_embedding", &[("dim", d.into())]);
    let t1 = linear(&mut g, te, d);
    let t2 = t(&mut g, t1, "silu", &[]);
    let t3 = linear(&mut g, t2, d);
    let ye = g.node("embedding", &[("num_embeddings", 11.into()), ("dim", d.into())]);
    g.wire(y, "y", ye, "ids");
    g.title(ye, "class embedding (10 digits + none)");
    let c = add2(&mut g, t3, ye);
    g.title(c, "conditioning c");
    h = block_node(&mut g, "dit_block", 4, "DiT blocks ×4", &[(h, "y", "x"), (c, "y", "c")]);
    let img = dit_head(&mut g, h, c, d, 4, 1);
    g.title(img, "predicted noise ε");
    output(&mut g, img, "y", "noise_pred");
    pre.save(g);
}

/// A node classifier on a graph dataset: Inputs for the node features and the edge index, then
/// `layers` (each a closure adding one graph layer), and the prediction.
/// Adds one layer after `h` (the edge index is the third argument).
type LayerFn<'a> = &'a dyn Fn(&mut GraphBuilder, NodeId, NodeId) -> NodeId;

fn node_classifier(pre: Pre, features: i64, layers: &[LayerFn]) {
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "node features", &format!("N,{features}"), "float", "features");
    let edges = input(&mut g, "edges", "2,E", "int", "edges");
    let mut h = x;
    for layer in layers {
        h = layer(&mut g, h, edges);
    }
    output(&mut g, h, "y", "prediction");
    pre.save(g);
}

/// One graph layer of `kind` after dropout `p` (0: none), wired to the edge index.
fn graph_layer(g: &mut GraphBuilder, h: NodeId, edges: NodeId, p: f64, kind: &str, params: P) -> NodeId {
    let h = if p > 0.0 {
        t(g, h, "dropout", &[("p", p.into())])
    } else {
        h
    };
    let c = g.then(h, kind, params);
    g.wire(edges, "y", c, "edges");
    c
}

fn graph_training(pre: Pre, lr: f64, steps: u64) -> Pre {
    pre.training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = lr;
        t.weight_decay = 5e-4;
        t.steps = steps;
        t.batch_size = 1;
    })
}

fn gcn() {
    let pre = Pre::new(
        "gcn",
        "GCN on Cora",
        "Graph convolutional network",
        "Graph",
        "Kipf & Welling, Semi-Supervised Classification with Graph Convolutional Networks, ICLR 2017",
        "node_classification",
    )
    .describe("Two graph convolutions (16 hidden units, dropout 0.5) classify the 2 708 papers of Cora into 7 subjects from 140 labels, by sparse message passing along the 5 278 citations. The Graph view colours every paper by its predicted subject.")
    .dataset("cora", &[]);
    node_classifier(
        graph_training(pre, 0.01, 200),
        1433,
        &[
            &|g, h, e| {
                let c = graph_layer(g, h, e, 0.5, "gcn_conv", &[("out_features", 16.into())]);
                t(g, c, "relu", &[])
            },
            &|g, h, e| graph_layer(g, h, e, 0.5, "gcn_conv", &[("out_features", 7.into())]),
        ],
    );
}

fn gat() {
    let pre = Pre::new(
        "gat",
        "GAT on Cora",
        "Graph attention network",
        "Graph",
        "Veličković et al., Graph Attention Networks, ICLR 2018",
        "node_classification",
    )
    .describe("Graph attention on Cora as in the paper: 8 heads of 8 features (concatenated, ELU), then one head of 7; dropout 0.6 on the inputs and the attention coefficients. In the Graph view each citation is as bright as the attention it gets.")
    .dataset("cora", &[]);
    node_classifier(
        graph_training(pre, 0.005, 200),
        1433,
        &[
            &|g, h, e| {
                let c = graph_layer(
                    g,
                    h,
                    e,
                    0.6,
                    "gat_conv",
                    &[("out_features", 8.into()), ("heads", 8.into()), ("dropout", 0.6.into())],
                );
                t(g, c, "elu", &[])
            },
            &|g, h, e| {
                graph_layer(
                    g,
                    h,
                    e,
                    0.6,
                    "gat_conv",
                    &[
                        ("out_features", 7.into()),
                        ("heads", 1.into()),
                        ("concat", false.into()),
                        ("dropout", 0.6.into()),
                    ],
                )
            },
        ],
    );
}

fn graphsage() {
    let pre = Pre::new(
        "graphsage",
        "GraphSAGE on Cora",
        "Inductive graph network (mean aggregator)",
        "Graph",
        "Hamilton, Ying & Leskovec, Inductive Representation Learning on Large Graphs, NeurIPS 2017",
        "node_classification",
    )
    .describe("Two GraphSAGE layers (mean of the neighbours plus a node's own features, 64 hidden units, dropout 0.5) on Cora.")
    .dataset("cora", &[]);
    node_classifier(
        graph_training(pre, 0.01, 200),
        1433,
        &[
            &|g, h, e| {
                let c = graph_layer(g, h, e, 0.5, "sage_conv", &[("out_features", 64.into())]);
                t(g, c, "relu", &[])
            },
            &|g, h, e| graph_layer(g, h, e, 0.5, "sage_conv", &[("out_features", 7.into())]),
        ],
    );
}

fn karate_gcn() {
    let pre = Pre::new(
        "karate_gcn",
        "GCN on the karate club",
        "Graph convolutional network",
        "Graph",
        "Kipf & Welling, ICLR 2017; Zachary, An Information Flow Model for Conflict and Fission in Small Groups, 1977",
        "node_classification",
    )
    .describe("Zachary's karate club split in two after a quarrel. Knowing only which club the two leaders joined, three graph convolutions over the friendships predict the side of every other member — watch the colours spread from the two leaders in the Graph view.")
    .dataset("karate", &[]);
    node_classifier(
        graph_training(pre, 0.01, 100),
        34,
        &[
            &|g, h, e| {
                let c = graph_layer(g, h, e, 0.0, "gcn_conv", &[("out_features", 16.into())]);
                t(g, c, "tanh", &[])
            },
            &|g, h, e| {
                let c = graph_layer(g, h, e, 0.0, "gcn_conv", &[("out_features", 8.into())]);
                t(g, c, "tanh", &[])
            },
            &|g, h, e| graph_layer(g, h, e, 0.0, "gcn_conv", &[("out_features", 2.into())]),
        ],
    );
}

/// Separate 64-64 tanh MLPs for the policy (2 actions) and the value of the CartPole state.
fn actor_critic_cartpole(pre: Pre) {
    let mut g = GraphBuilder::new();
    let obs = g.node(
        "input",
        &[
            ("shape", shape("B,4")),
            ("source", "environment".into()),
            ("field", "observation".into()),
        ],
    );
    g.title(obs, "observation");
    for (out, role) in [(2, "policy"), (1, "value")] {
        let mut h = obs;
        for _ in 0..2 {
            h = linear(&mut g, h, 64);
            h = t(&mut g, h, "tanh", &[]);
        }
        h = linear(&mut g, h, out);
        output(&mut g, h, "y", role);
    }
    pre.save(g);
}

fn ppo_cartpole() {
    let pre = Pre::new(
        "ppo_cartpole",
        "PPO on CartPole",
        "Actor-critic policy gradient",
        "Reinforcement learning",
        "Schulman et al., Proximal Policy Optimization Algorithms, 2017",
        "ppo",
    )
    .describe("Separate 64-64 tanh MLPs for the policy (2 actions) and the value of the 4-number CartPole state. Each step is a rollout of 8 carts × 128 moves and 4 epochs of 4 minibatches of the clipped objective; the Environment view shows the cart and pole under the current policy.")
    .dataset("cartpole", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 2.5e-3;
        t.schedule = Schedule::Cosine;
        t.steps = 150;
    });
    actor_critic_cartpole(pre);
}

fn a2c_cartpole() {
    let pre = Pre::new(
        "a2c_cartpole",
        "A2C on CartPole",
        "Advantage actor-critic",
        "Reinforcement learning",
        "Mnih et al., Asynchronous Methods for Deep Reinforcement Learning, ICML 2016",
        "a2c",
    )
    .describe("The same two networks as ppo_cartpole, trained by advantage actor-critic: 8 carts × 5 moves, then one policy-gradient step on the 5-step advantages.")
    .dataset("cartpole", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.schedule = Schedule::Cosine;
        t.steps = 5000;
    });
    actor_critic_cartpole(pre);
}

fn dqn_cartpole() {
    let mut pre = Pre::new(
        "dqn_cartpole",
        "DQN on CartPole",
        "Deep Q-network",
        "Reinforcement learning",
        "Mnih et al., Human-level control through deep reinforcement learning, Nature 2015",
        "dqn",
    )
    .describe("A 64-64 tanh MLP gives the value of pushing left and right from the 4-number CartPole state. It acts ε-greedily (ε from 1 to 0.05 over the first 30 %), learns after every move from a replay buffer of 50 000 moves against a slowly following target network (double DQN); the Environment view shows the cart under the greedy policy. DQN on CartPole is famously unsteady: the greedy return swings between about 100 and 500 from one evaluation to the next.")
    .dataset("cartpole", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.steps = 30_000;
    });
    // An update per move; the target network follows by 1 % per update (soft updates were the
    // steadiest of the settings tried, see TESTING.md); ε falls over the first 30 %.
    let settings: [(&str, V); 4] = [
        ("tau", 0.01.into()),
        ("buffer", 50_000.into()),
        ("learning_starts", 1_000.into()),
        ("epsilon_fraction", 0.3.into()),
    ];
    for (k, v) in settings {
        pre.project.recipe.settings.insert(k.into(), v);
    }
    let mut g = GraphBuilder::new();
    let obs = g.node(
        "input",
        &[
            ("shape", shape("B,4")),
            ("source", "environment".into()),
            ("field", "observation".into()),
        ],
    );
    g.title(obs, "observation");
    let mut h = obs;
    for _ in 0..2 {
        h = linear(&mut g, h, 64);
        h = t(&mut g, h, "tanh", &[]);
    }
    h = linear(&mut g, h, 2);
    output(&mut g, h, "y", "q_values");
    pre.save(g);
}

fn sac_pendulum() {
    let pre = Pre::new(
        "sac_pendulum",
        "SAC on Pendulum",
        "Soft actor-critic",
        "Reinforcement learning",
        "Haarnoja et al., Soft Actor-Critic Algorithms and Applications, 2018",
        "sac",
    )
    .describe("Swing the pendulum up and hold it with a limited torque. The actor (128-128 ReLU) gives the mean and log standard deviation of a tanh-squashed Gaussian torque; two critics read the angle, the speed and a torque and score it; the temperature α is learned. The Environment view shows the pendulum under the mean action.")
    .dataset("pendulum", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.steps = 8_000;
    });
    let mut g = GraphBuilder::new();
    let env_input = |g: &mut GraphBuilder, field: &str, shape_: &str| {
        let n = g.node(
            "input",
            &[
                ("shape", shape(shape_)),
                ("source", "environment".into()),
                ("field", field.into()),
            ],
        );
        g.title(n, field);
        n
    };
    let obs = env_input(&mut g, "observation", "B,3");
    let act = env_input(&mut g, "action", "B,1");
    let mlp = |g: &mut GraphBuilder, mut h: NodeId, out: i64, role: &str| {
        for _ in 0..2 {
            h = linear(g, h, 128);
            h = t(g, h, "relu", &[]);
        }
        let o = linear(g, h, out);
        output(g, o, "y", role);
    };
    mlp(&mut g, obs, 2, "policy");
    for role in ["q1", "q2"] {
        let cat = g.node("concat", &[]);
        g.wire(obs, "y", cat, "x0");
        g.wire(act, "y", cat, "x1");
        mlp(&mut g, cat, 1, role);
    }
    pre.save(g);
}

fn mpnn() {
    let pre = Pre::new(
        "mpnn",
        "MPNN on motif graphs",
        "Message passing neural network",
        "Graph",
        "Gilmer et al., Neural Message Passing for Quantum Chemistry, ICML 2017",
        "graph_classification",
    )
    .describe("Tells rings, stars and ladders apart from their structure alone (every node starts as the same 1): three rounds of message passing where an edge network turns each edge's kind into a message matrix and a GRU updates the node, then the mean over each graph's nodes and a classifier. Graphs are batched 32 at a time into one disjoint graph.")
    .dataset("motifs", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 3e-3;
        t.batch_size = 32;
        t.steps = 300;
    });
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "node features", "N,1", "float", "features");
    let edges = input(&mut g, "edges", "2,E", "int", "edges");
    let batch = input(&mut g, "graph of each node", "N", "int", "batch");
    let attr = input(&mut g, "edge features", "E,2", "float", "edge_features");
    let mut h = linear(&mut g, x, 32);
    h = t(&mut g, h, "relu", &[]);
    for _ in 0..3 {
        let m = g.then(h, "mpnn_conv", &[("edge_hidden", 16.into())]);
        g.wire(edges, "y", m, "edges");
        g.wire(attr, "y", m, "edge_attr");
        h = m;
    }
    let pool = g.then(h, "graph_pool", &[]);
    g.wire(batch, "y", pool, "batch");
    let mut h = linear(&mut g, pool, 32);
    h = t(&mut g, h, "relu", &[]);
    let o = linear(&mut g, h, 3);
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn stgcn() {
    let pre = Pre::new(
        "stgcn",
        "ST-GCN on skeleton motions",
        "Spatio-temporal graph convolutional network",
        "Graph",
        "Yan, Xiong & Lin, Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action Recognition, AAAI 2018",
        "supervised",
    )
    .describe("Recognises what an 8-joint stick figure does over 16 frames — waving, jumping, swaying or walking. Three ST-GCN blocks each mix joints along the skeleton's bones (graph convolution) and frames over time (a temporal convolution), then the mean over frames and joints feeds the classifier.")
    .dataset("skeletons", &[])
    .training(|t| {
        t.optimizer = Optimizer::Adam;
        t.learning_rate = 1e-3;
        t.batch_size = 32;
        t.steps = 600;
    });
    let bones: Vec<V> = strata::data::skeletons::BONES
        .iter()
        .flat_map(|&[a, b]| [V::from(a as i64), V::from(b as i64)])
        .collect();
    let mut g = GraphBuilder::new();
    let x = input(&mut g, "joint positions", "B,2,16,8", "float", "features");
    let mut h = x;
    for out in [32i64, 32, 64] {
        h = g.then(
            h,
            "stgcn_block",
            &[
                ("out_channels", out.into()),
                ("temporal_kernel", 5.into()),
                ("bones", V::List(bones.clone())),
            ],
        );
    }
    h = t(&mut g, h, "global_avg_pool", &[]);
    let o = linear(&mut g, h, 4);
    output(&mut g, o, "y", "prediction");
    pre.save(g);
}

fn main() {
    mlp();
    lenet5();
    alexnet();
    vgg16();
    resnet18();
    resnet_mini();
    googlenet();
    densenet121();
    efficientnet_b0();
    vit_b_16();
    unet();
    transformer();
    bert_base();
    gpt2_small();
    gpt_char();
    bert_mlm();
    seq2seq_attention();
    transformer_mini();
    t5_tiny();
    lstm_forecast();
    moe_char();
    mamba_char();
    rwkv_char();
    hyena_char();
    vit_mnist();
    rows(
        "rnn_rows",
        "Elman RNN on MNIST rows",
        "rnn",
        "Elman, Finding Structure in Time, Cognitive Science 1990",
    );
    rows(
        "lstm_rows",
        "LSTM on MNIST rows",
        "lstm",
        "Hochreiter & Schmidhuber, Long Short-Term Memory, Neural Computation 1997",
    );
    rows(
        "gru_rows",
        "GRU on MNIST rows",
        "gru",
        "Cho et al., Learning Phrase Representations using RNN Encoder-Decoder, EMNLP 2014",
    );
    t5_small();
    dit();
    autoencoder();
    vae();
    dcgan();
    unet_shapes();
    score_2d();
    ddpm_unet();
    dit_mini();
    realnvp();
    glow();
    gcn();
    gat();
    graphsage();
    karate_gcn();
    mpnn();
    stgcn();
    ppo_cartpole();
    dqn_cartpole();
    a2c_cartpole();
    sac_pendulum();
}
