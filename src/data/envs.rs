//! Reinforcement-learning environments, written here (no Burn, no egui): CartPole-v1 (Barto,
//! Sutton & Anderson 1983, as in Gym), Pendulum-v1 (continuous torque) and a small grid world.
//! Each implements [`Env`]; [`VecEnv`] steps several copies at once, starting an episode afresh
//! where one ends; each draws itself as a [`Picture`].

use crate::telemetry::Picture;

/// What an agent may do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActionSpace {
    /// One of `n` actions.
    Discrete(usize),
    /// A vector of `dim` reals, each within `[low, high]`.
    Continuous {
        /// Entries.
        dim: usize,
        /// Smallest value.
        low: f32,
        /// Largest value.
        high: f32,
    },
}

impl ActionSpace {
    /// The width of a policy head for this space: the number of actions, or the action size.
    pub fn head(&self) -> usize {
        match *self {
            ActionSpace::Discrete(n) => n,
            ActionSpace::Continuous { dim, .. } => dim,
        }
    }
}

/// An action: an index (discrete spaces) or a vector (continuous ones).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The chosen action.
    Discrete(usize),
    /// The chosen values (clipped to the space by the environment).
    Continuous(Vec<f32>),
}

/// What one step gives back.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The observation after the step.
    pub observation: Vec<f32>,
    /// The reward for the step.
    pub reward: f32,
    /// The episode ended by the task (the pole fell, the goal was reached).
    pub terminated: bool,
    /// The episode was cut by its time limit (the value of the next state still counts).
    pub truncated: bool,
}

/// An environment. Deterministic given the seed of [`Env::reset`].
pub trait Env: Send {
    /// Numbers per observation.
    fn observation_size(&self) -> usize;
    /// What the agent may do.
    fn action_space(&self) -> ActionSpace;
    /// Starts an episode; returns the first observation.
    fn reset(&mut self, seed: u64) -> Vec<f32>;
    /// Applies `action`.
    fn step(&mut self, action: &Action) -> Transition;
    /// The current state drawn, `width` pixels wide.
    fn render(&self, width: usize) -> Picture;
}

/// SplitMix64: the same draws on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// CartPole-v1 physics constants (Gym).
pub mod cartpole {
    /// Gravity.
    pub const GRAVITY: f64 = 9.8;
    /// Cart mass.
    pub const CART_MASS: f64 = 1.0;
    /// Pole mass.
    pub const POLE_MASS: f64 = 0.1;
    /// Half the pole's length.
    pub const HALF_LENGTH: f64 = 0.5;
    /// Push force.
    pub const FORCE: f64 = 10.0;
    /// Seconds per step (Euler).
    pub const TAU: f64 = 0.02;
    /// The episode fails beyond this cart position.
    pub const X_LIMIT: f64 = 2.4;
    /// ... or beyond this pole angle (12°).
    pub const THETA_LIMIT: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
    /// Steps before truncation.
    pub const MAX_STEPS: u32 = 500;
}

/// Balance a pole on a cart by pushing it left or right; +1 per step upright, at most 500.
#[derive(Clone, Debug, Default)]
pub struct CartPole {
    /// Cart position, cart velocity, pole angle, pole angular velocity.
    pub state: [f64; 4],
    steps: u32,
}

impl CartPole {
    /// The equations of motion: the state after pushing with `force` for one step.
    pub fn dynamics(state: [f64; 4], force: f64) -> [f64; 4] {
        use cartpole::*;
        let [x, x_dot, theta, theta_dot] = state;
        let total = CART_MASS + POLE_MASS;
        let (sin, cos) = theta.sin_cos();
        let temp = (force + POLE_MASS * HALF_LENGTH * theta_dot * theta_dot * sin) / total;
        let theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - POLE_MASS * cos * cos / total));
        let x_acc = temp - POLE_MASS * HALF_LENGTH * theta_acc * cos / total;
        [
            x + TAU * x_dot,
            x_dot + TAU * x_acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ]
    }
}

impl Env for CartPole {
    fn observation_size(&self) -> usize {
        4
    }
    fn action_space(&self) -> ActionSpace {
        ActionSpace::Discrete(2)
    }
    fn reset(&mut self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        self.state = [0; 4].map(|_| rng.uniform(-0.05, 0.05));
        self.steps = 0;
        self.state.map(|v| v as f32).to_vec()
    }
    fn step(&mut self, action: &Action) -> Transition {
        use cartpole::*;
        let push = match action {
            Action::Discrete(1) => FORCE,
            Action::Discrete(_) => -FORCE,
            Action::Continuous(v) => v.first().map_or(-FORCE, |&a| if a > 0.0 { FORCE } else { -FORCE }),
        };
        self.state = CartPole::dynamics(self.state, push);
        self.steps += 1;
        let [x, _, theta, _] = self.state;
        let terminated = x.abs() > X_LIMIT || theta.abs() > THETA_LIMIT;
        Transition {
            observation: self.state.map(|v| v as f32).to_vec(),
            reward: 1.0,
            terminated,
            truncated: !terminated && self.steps >= MAX_STEPS,
        }
    }
    fn render(&self, width: usize) -> Picture {
        let h = width / 2;
        let mut c = Canvas::new(width, h, [24, 24, 28]);
        let scale = width as f64 / (2.0 * cartpole::X_LIMIT * 1.2);
        let ground = h as f64 * 0.75;
        c.rect(0.0, ground, width as f64, ground + 2.0, [90, 90, 100]);
        let cx = width as f64 / 2.0 + self.state[0] * scale;
        c.rect(cx - 24.0, ground - 14.0, cx + 24.0, ground + 2.0, [78, 121, 167]);
        let len = 2.0 * cartpole::HALF_LENGTH * scale;
        let theta = self.state[2];
        let (tx, ty) = (cx + len * theta.sin(), ground - 14.0 - len * theta.cos());
        c.line(cx, ground - 14.0, tx, ty, 5.0, [242, 142, 43]);
        c.disc(cx, ground - 14.0, 4.0, [220, 220, 220]);
        c.picture()
    }
}

/// Swing a pendulum up and hold it upright with a limited torque (Pendulum-v1): reward
/// −(θ² + 0.1·θ̇² + 0.001·u²), 200 steps.
#[derive(Clone, Debug, Default)]
pub struct Pendulum {
    /// Angle (0 = upright) and angular velocity.
    pub state: [f64; 2],
    last_torque: f64,
    steps: u32,
}

/// Pendulum-v1 constants (Gym).
pub mod pendulum {
    /// Largest angular velocity.
    pub const MAX_SPEED: f64 = 8.0;
    /// Largest torque.
    pub const MAX_TORQUE: f64 = 2.0;
    /// Seconds per step.
    pub const DT: f64 = 0.05;
    /// Gravity.
    pub const G: f64 = 10.0;
    /// Steps per episode.
    pub const MAX_STEPS: u32 = 200;
}

fn angle_normalize(x: f64) -> f64 {
    (x + std::f64::consts::PI).rem_euclid(2.0 * std::f64::consts::PI) - std::f64::consts::PI
}

impl Pendulum {
    fn observe(&self) -> Vec<f32> {
        let [th, thdot] = self.state;
        vec![th.cos() as f32, th.sin() as f32, thdot as f32]
    }
}

impl Env for Pendulum {
    fn observation_size(&self) -> usize {
        3
    }
    fn action_space(&self) -> ActionSpace {
        ActionSpace::Continuous {
            dim: 1,
            low: -pendulum::MAX_TORQUE as f32,
            high: pendulum::MAX_TORQUE as f32,
        }
    }
    fn reset(&mut self, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        self.state = [
            rng.uniform(-std::f64::consts::PI, std::f64::consts::PI),
            rng.uniform(-1.0, 1.0),
        ];
        self.steps = 0;
        self.last_torque = 0.0;
        self.observe()
    }
    fn step(&mut self, action: &Action) -> Transition {
        use pendulum::*;
        let u = match action {
            Action::Continuous(v) => f64::from(v.first().copied().unwrap_or(0.0)),
            Action::Discrete(i) => (*i as f64 - 1.0) * MAX_TORQUE,
        }
        .clamp(-MAX_TORQUE, MAX_TORQUE);
        let [th, thdot] = self.state;
        let cost = angle_normalize(th).powi(2) + 0.1 * thdot * thdot + 0.001 * u * u;
        // Gym's Pendulum-v1 (m = l = 1): θ̈ = 3g/(2l)·sin θ + 3/(m l²)·u.
        let new_thdot = (thdot + (3.0 * G / 2.0 * th.sin() + 3.0 * u) * DT).clamp(-MAX_SPEED, MAX_SPEED);
        self.state = [th + new_thdot * DT, new_thdot];
        self.last_torque = u;
        self.steps += 1;
        Transition {
            observation: self.observe(),
            reward: -cost as f32,
            terminated: false,
            truncated: self.steps >= MAX_STEPS,
        }
    }
    fn render(&self, width: usize) -> Picture {
        let mut c = Canvas::new(width, width, [24, 24, 28]);
        let (cx, cy) = (width as f64 / 2.0, width as f64 / 2.0);
        let len = width as f64 * 0.35;
        let th = self.state[0];
        // θ = 0 points up.
        let (tx, ty) = (cx + len * th.sin(), cy - len * th.cos());
        c.line(cx, cy, tx, ty, 8.0, [225, 87, 89]);
        c.disc(cx, cy, 5.0, [220, 220, 220]);
        // The torque as a bar under the pivot.
        let bar = self.last_torque / pendulum::MAX_TORQUE * width as f64 * 0.3;
        c.rect(
            cx.min(cx + bar),
            cy + len + 12.0,
            cx.max(cx + bar),
            cy + len + 18.0,
            [118, 183, 178],
        );
        c.picture()
    }
}

/// A 5×5 grid: start top-left, goal bottom-right (+1, ends), a wall in the middle row with a gap;
/// −0.01 per step, at most 50 steps. Observation: the agent's cell one-hot (25 numbers).
#[derive(Clone, Debug, Default)]
pub struct GridWorld {
    /// Row and column of the agent.
    pub at: (usize, usize),
    steps: u32,
}

/// Side of the grid world.
pub const GRID: usize = 5;

impl GridWorld {
    fn wall(r: usize, c: usize) -> bool {
        r == 2 && c != 3
    }
    fn observe(&self) -> Vec<f32> {
        let mut v = vec![0.0; GRID * GRID];
        v[self.at.0 * GRID + self.at.1] = 1.0;
        v
    }
}

impl Env for GridWorld {
    fn observation_size(&self) -> usize {
        GRID * GRID
    }
    fn action_space(&self) -> ActionSpace {
        ActionSpace::Discrete(4)
    }
    fn reset(&mut self, _seed: u64) -> Vec<f32> {
        self.at = (0, 0);
        self.steps = 0;
        self.observe()
    }
    fn step(&mut self, action: &Action) -> Transition {
        let (r, c) = self.at;
        let next = match action {
            Action::Discrete(0) => (r.saturating_sub(1), c),
            Action::Discrete(1) => (r, (c + 1).min(GRID - 1)),
            Action::Discrete(2) => ((r + 1).min(GRID - 1), c),
            _ => (r, c.saturating_sub(1)),
        };
        if !GridWorld::wall(next.0, next.1) {
            self.at = next;
        }
        self.steps += 1;
        let goal = self.at == (GRID - 1, GRID - 1);
        Transition {
            observation: self.observe(),
            reward: if goal { 1.0 } else { -0.01 },
            terminated: goal,
            truncated: !goal && self.steps >= 50,
        }
    }
    fn render(&self, width: usize) -> Picture {
        let mut c = Canvas::new(width, width, [24, 24, 28]);
        let cell = width as f64 / GRID as f64;
        for r in 0..GRID {
            for k in 0..GRID {
                let colour = if GridWorld::wall(r, k) {
                    [90, 90, 100]
                } else if (r, k) == (GRID - 1, GRID - 1) {
                    [89, 161, 79]
                } else {
                    [40, 40, 46]
                };
                let (x, y) = (k as f64 * cell, r as f64 * cell);
                c.rect(x + 1.0, y + 1.0, x + cell - 1.0, y + cell - 1.0, colour);
            }
        }
        let (r, k) = self.at;
        c.disc(
            (k as f64 + 0.5) * cell,
            (r as f64 + 0.5) * cell,
            cell * 0.3,
            [242, 142, 43],
        );
        c.picture()
    }
}

/// The environment with `id` (`cartpole`, `pendulum`, `gridworld`).
pub fn make(id: &str) -> Result<Box<dyn Env>, String> {
    Ok(match id {
        "cartpole" => Box::new(CartPole::default()),
        "pendulum" => Box::new(Pendulum::default()),
        "gridworld" => Box::new(GridWorld::default()),
        other => {
            return Err(format!(
                "there is no environment '{other}' — choose one of: {}",
                IDS.join(", ")
            ));
        }
    })
}

/// Ids of the environments.
pub const IDS: &[&str] = &["cartpole", "pendulum", "gridworld"];

/// Several copies of an environment stepped together; a copy whose episode ends starts the
/// next one at once (the transition still reports the end), and finished episodes' returns are
/// collected.
pub struct VecEnv {
    envs: Vec<Box<dyn Env>>,
    obs: Vec<Vec<f32>>,
    running: Vec<f64>,
    lengths: Vec<u32>,
    episodes: u64,
    seed: u64,
    /// Returns and lengths of the episodes finished since last taken.
    pub finished: Vec<(f64, u32)>,
}

impl VecEnv {
    /// `n` copies of environment `id`, their first episodes seeded from `seed`.
    pub fn new(id: &str, n: usize, seed: u64) -> Result<Self, String> {
        let mut envs = Vec::with_capacity(n);
        for _ in 0..n.max(1) {
            envs.push(make(id)?);
        }
        let mut v = VecEnv {
            obs: Vec::new(),
            running: vec![0.0; envs.len()],
            lengths: vec![0; envs.len()],
            envs,
            episodes: 0,
            seed,
            finished: Vec::new(),
        };
        v.obs = (0..v.envs.len()).map(|i| v.fresh(i)).collect();
        Ok(v)
    }
    fn fresh(&mut self, i: usize) -> Vec<f32> {
        self.episodes += 1;
        let seed = self.seed.wrapping_mul(1_000_003).wrapping_add(self.episodes);
        self.envs[i].reset(seed)
    }
    /// How many copies.
    pub fn len(&self) -> usize {
        self.envs.len()
    }
    /// True with no copies (never: at least one is made).
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }
    /// The current observations, one row per copy.
    pub fn observations(&self) -> &[Vec<f32>] {
        &self.obs
    }
    /// The first copy's action space.
    pub fn action_space(&self) -> ActionSpace {
        self.envs[0].action_space()
    }
    /// Numbers per observation.
    pub fn observation_size(&self) -> usize {
        self.envs[0].observation_size()
    }
    /// Steps every copy with its action; returns each copy's transition (the observation is the
    /// one after the step, before any restart) — `observations()` then holds restarted ones.
    pub fn step(&mut self, actions: &[Action]) -> Vec<Transition> {
        let mut out = Vec::with_capacity(self.envs.len());
        for i in 0..self.envs.len() {
            let t = self.envs[i].step(&actions[i.min(actions.len() - 1)]);
            self.running[i] += f64::from(t.reward);
            self.lengths[i] += 1;
            if t.terminated || t.truncated {
                self.finished.push((self.running[i], self.lengths[i]));
                self.running[i] = 0.0;
                self.lengths[i] = 0;
                self.obs[i] = self.fresh(i);
            } else {
                self.obs[i] = t.observation.clone();
            }
            out.push(t);
        }
        out
    }
    /// Copy `i` drawn.
    pub fn render(&self, i: usize, width: usize) -> Picture {
        self.envs[i.min(self.envs.len() - 1)].render(width)
    }
}

/// A small raster for environment pictures.
struct Canvas {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize, bg: [u8; 3]) -> Self {
        Canvas {
            w,
            h,
            rgb: bg.repeat(w * h),
        }
    }
    fn put(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let o = (y as usize * self.w + x as usize) * 3;
            self.rgb[o..o + 3].copy_from_slice(&c);
        }
    }
    fn rect(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, c: [u8; 3]) {
        for y in y0.round() as i64..y1.round() as i64 {
            for x in x0.round() as i64..x1.round() as i64 {
                self.put(x, y, c);
            }
        }
    }
    fn disc(&mut self, cx: f64, cy: f64, r: f64, c: [u8; 3]) {
        let s = r.ceil() as i64;
        for dy in -s..=s {
            for dx in -s..=s {
                if ((dx * dx + dy * dy) as f64) <= r * r {
                    self.put(cx as i64 + dx, cy as i64 + dy, c);
                }
            }
        }
    }
    fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, width: f64, c: [u8; 3]) {
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            self.disc(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, width / 2.0, c);
        }
    }
    fn picture(self) -> Picture {
        Picture {
            width: self.w,
            height: self.h,
            rgb: self.rgb,
        }
    }
}
