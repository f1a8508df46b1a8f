//! The reinforcement-learning recipes in `train.py` — DQN, PPO, A2C and SAC — with the
//! environment written out in Python (the same dynamics, rewards and time limits as
//! `data::envs`) and each algorithm's loop as `engine::recipes::{dqn, ppo, a2c, sac}` runs it,
//! with the project's settings. Under torchrun every process acts in its own copies of the
//! environment and the gradients of each update are averaged.

use super::{TrainCtx, TrainPart};
use crate::engine::recipes::setting;
use crate::engine::recipes::text::{float_setting, usize_setting};

/// The recipes this writes.
pub const DQN: &str = "dqn";
/// Proximal policy optimisation.
pub const PPO: &str = "ppo";
/// Advantage actor-critic.
pub const A2C: &str = "a2c";
/// Soft actor-critic.
pub const SAC: &str = "sac";

/// The environments, as `data::envs` defines them.
const CARTPOLE: &str = r#"
class Env:
    """CartPole (Gym's CartPole-v1 physics): push the cart left (0) or right (1); +1 per step;
    the episode ends when the pole leans past 12° or the cart leaves ±2.4, or after 500 steps."""

    actions, observation_size = 2, 4

    def reset(self, rng):
        self.state, self.steps = [rng.uniform(-0.05, 0.05) for _ in range(4)], 0
        return list(self.state)

    def step(self, action):
        x, x_dot, th, th_dot = self.state
        force = 10.0 if int(action) == 1 else -10.0
        total, pole, half = 1.1, 0.1, 0.5
        sin, cos = math.sin(th), math.cos(th)
        temp = (force + pole * half * th_dot * th_dot * sin) / total
        th_acc = (9.8 * sin - cos * temp) / (half * (4.0 / 3.0 - pole * cos * cos / total))
        x_acc = temp - pole * half * th_acc * cos / total
        self.state = [x + 0.02 * x_dot, x_dot + 0.02 * x_acc, th + 0.02 * th_dot, th_dot + 0.02 * th_acc]
        self.steps += 1
        ended = abs(self.state[0]) > 2.4 or abs(self.state[2]) > 12.0 * 2.0 * math.pi / 360.0
        return list(self.state), 1.0, ended, (not ended) and self.steps >= 500
"#;

const PENDULUM: &str = r#"
class Env:
    """Pendulum (Gym's Pendulum-v1): a torque in [−2, 2] swings the pole up; the reward is
    −(angle² + 0.1·speed² + 0.001·torque²); 200 steps per episode."""

    actions, observation_size, dim, high = None, 3, 1, 2.0

    def reset(self, rng):
        self.th, self.th_dot, self.steps = rng.uniform(-math.pi, math.pi), rng.uniform(-1.0, 1.0), 0
        return self.observe()

    def observe(self):
        return [math.cos(self.th), math.sin(self.th), self.th_dot]

    def step(self, action):
        u = min(max(float(action[0]), -2.0), 2.0)
        angle = (self.th + math.pi) % (2 * math.pi) - math.pi
        cost = angle ** 2 + 0.1 * self.th_dot ** 2 + 0.001 * u * u
        self.th_dot = min(max(self.th_dot + (3 * 10.0 / 2 * math.sin(self.th) + 3.0 * u) * 0.05, -8.0), 8.0)
        self.th += self.th_dot * 0.05
        self.steps += 1
        return self.observe(), -cost, False, self.steps >= 200
"#;

const GRIDWORLD: &str = r#"
class Env:
    """A 5×5 grid with a wall across row 2 (open at column 3): moves up, right, down, left from
    the top-left corner to the bottom-right goal; −0.01 per step, +1 at the goal, 50 steps."""

    actions, observation_size = 4, 25

    def reset(self, rng):
        self.at, self.steps = (0, 0), 0
        return self.observe()

    def observe(self):
        v = [0.0] * 25
        v[self.at[0] * 5 + self.at[1]] = 1.0
        return v

    def step(self, action):
        r, c = self.at
        nxt = [(max(r - 1, 0), c), (r, min(c + 1, 4)), (min(r + 1, 4), c), (r, max(c - 1, 0))][int(action)]
        if not (nxt[0] == 2 and nxt[1] != 3):
            self.at = nxt
        self.steps += 1
        goal = self.at == (4, 4)
        return self.observe(), 1.0 if goal else -0.01, goal, (not goal) and self.steps >= 50
"#;

/// What every RL script shares: copies of the environment, greedy evaluation, the main loop.
const COMMON: &str = r#"

class VecEnv:
    """Copies of the environment stepped together; a finished episode starts again at once."""

    def __init__(self, n, seed):
        self.rng = random.Random(seed)
        self.envs = [Env() for _ in range(n)]
        self.obs = [e.reset(self.rng) for e in self.envs]
        self.running, self.finished = [0.0] * n, []

    def step(self, actions):
        out = []
        for i, (env, a) in enumerate(zip(self.envs, actions)):
            obs, reward, ended, truncated = env.step(a)
            self.running[i] += reward
            if ended or truncated:
                self.finished.append(self.running[i])
                self.running[i] = 0.0
                self.obs[i] = env.reset(self.rng)
            else:
                self.obs[i] = obs
            out.append((obs, reward, ended, truncated))
        return out

    def recent_return(self, k=20):
        last = self.finished[-k:]
        return sum(last) / len(last) if last else float("nan")


def rows(values, device):
    return torch.tensor(values, dtype=torch.float32, device=device)


def feed(obs, action=None):
    """The model's inputs: the observations{FEED_DOC}."""
{FEED}


def descend(optimizer, loss, params, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(params)
    clip_gradients(params)
    optimizer.step()


def follow(target, model, tau):
    """The target network moves a share tau towards the model (Polyak averaging)."""
    with torch.no_grad():
        for t, p in zip(target.parameters(), model.parameters()):
            t.mul_(1.0 - tau).add_(p, alpha=tau)


def evaluate(model, episodes, device):
    """Mean return of `episodes` episodes run together, acting without exploration."""
    rng = random.Random(SETTINGS["seed"] * 7919)
    envs = [Env() for _ in range(episodes)]
    obs = [e.reset(rng) for e in envs]
    alive, returns = list(range(episodes)), [0.0] * episodes
    model.eval()
    with torch.no_grad():
        while alive:
            out = model(**feed(rows([obs[i] for i in alive], device)))["{HEAD}"]
            still = []
            for k, i in enumerate(alive):
                o, reward, ended, truncated = envs[i].step(act_greedy(out[k]))
                returns[i] += reward
                obs[i] = o
                if not (ended or truncated):
                    still.append(i)
            alive = still
    model.train()
    return sum(returns) / max(episodes, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=SETTINGS["steps"], help="steps, as Strata counts them")
    ap.add_argument("--weights", help="start from these weights (e.g. weights.safetensors)")
    ap.add_argument("--out", default="trained.safetensors", help="where process 0 saves the weights")
    ap.add_argument("--episodes", type=int, default=EVAL_EPISODES, help="evaluation episodes at the end")
    args = ap.parse_args()
    rank, world, device = setup()
    torch.manual_seed(SETTINGS["seed"] + rank)
    model = Model()
    if args.weights:
        load_weights(model, args.weights)
    model.to(device).train()

    def log(step, loss, envs, extra=""):
        if rank == 0 and (step % 50 == 0 or step == args.steps - 1):
            print(f"step {step:6d}  loss {loss:.4f}  return {envs.recent_return():.1f}  {extra}", flush=True)

    learn(model, args.steps, SETTINGS["seed"] * 1000003 + rank, device, log)
    if rank == 0:
        print(f"evaluation (greedy) mean return {evaluate(model, args.episodes, device):.2f} over {args.episodes} episodes")
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, args.out)
        print(f"saved {args.out}")
    if world > 1:
        dist.destroy_process_group()
"#;

const DQN_LOOP: &str = r#"

def act_greedy(q):
    return int(q.argmax())


def learn(model, steps, seed, device, log):
    """DQN: act ε-greedily, store transitions, regress Q(s, a) on r + γ·Q_target(s′, a*) (Huber)."""
    envs, rng = VecEnv(1, seed), random.Random(seed ^ 0xD09)
    target = copy.deepcopy(model)
    params = list(model.parameters())
    optimizer = make_optimizer(params)
    buffer, at, loss = [], 0, float("nan")
    for step in range(steps):
        eps = EPS_START + (EPS_END - EPS_START) * min(step / max(EPS_FRACTION * steps, 1.0), 1.0)
        for _ in range(TRAIN_EVERY):
            obs = envs.obs[0]
            if rng.random() < eps:
                a = rng.randrange(Env.actions)
            else:
                with torch.no_grad():
                    a = act_greedy(model(**feed(rows([obs], device)))["{HEAD}"][0])
            nxt, reward, ended, _ = envs.step([a])[0]
            # Truncation by the time limit is not the end of the task: bootstrap through it.
            item = (obs, a, reward, nxt, float(ended))
            if len(buffer) < BUFFER:
                buffer.append(item)
            else:
                buffer[at] = item
            at = (at + 1) % BUFFER
        if len(buffer) >= max(LEARNING_STARTS, BATCH):
            batch = [buffer[rng.randrange(len(buffer))] for _ in range(BATCH)]
            obs_t, nxt_t = rows([b[0] for b in batch], device), rows([b[3] for b in batch], device)
            acts = torch.tensor([b[1] for b in batch], device=device)
            reward_t, ended_t = rows([b[2] for b in batch], device), rows([b[4] for b in batch], device)
            with torch.no_grad():
                q_next = target(**feed(nxt_t))["{HEAD}"]
                if DOUBLE:  # the online network picks the next action, the target values it
                    pick = model(**feed(nxt_t))["{HEAD}"].argmax(1, keepdim=True)
                    best = q_next.gather(1, pick).squeeze(1)
                else:
                    best = q_next.max(1).values
                y = reward_t + GAMMA * (1.0 - ended_t) * best
            q = model(**feed(obs_t))["{HEAD}"].gather(1, acts[:, None]).squeeze(1)
            loss_t = F.smooth_l1_loss(q, y)
            descend(optimizer, loss_t, params, learning_rate(step, steps))
            loss = float(loss_t)
            if TAU > 0:
                follow(target, model, TAU)
            elif (step + 1) % TARGET_EVERY == 0:
                target.load_state_dict(model.state_dict())
        log(step, loss, envs, f"epsilon {eps:.3f}")
"#;

const PPO_LOOP: &str = r#"

def act_greedy(logits):
    return int(logits.argmax())


def learn(model, steps, seed, device, log):
    """Actor-critic: each step is a rollout of ROLLOUT moves in N_ENVS copies, GAE advantages
    from the value output, then {EPOCHS} epoch(s) of {MINIBATCHES} minibatch(es) of the objective."""
    envs = VecEnv(N_ENVS, seed)
    params = list(model.parameters())
    optimizer = make_optimizer(params)
    for step in range(steps):
        obs_l, act_l, logp_l, val_l, rew_l, done_l = [], [], [], [], [], []
        with torch.no_grad():
            for _ in range(ROLLOUT):
                o = rows(envs.obs, device)
                out = model(**feed(o))
                policy = torch.distributions.Categorical(logits=out["{HEAD}"])
                a = policy.sample()
                result = envs.step(a.tolist())
                obs_l.append(o)
                act_l.append(a)
                logp_l.append(policy.log_prob(a))
                val_l.append(out["value"].reshape(-1))
                rew_l.append(rows([r[1] for r in result], device))
                # A time limit ends the episode like a termination (as CleanRL does).
                done_l.append(rows([float(r[2] or r[3]) for r in result], device))
            next_value = model(**feed(rows(envs.obs, device)))["value"].reshape(-1)
        values, adv, running = torch.stack(val_l), torch.zeros(ROLLOUT, N_ENVS, device=device), 0.0
        for t in reversed(range(ROLLOUT)):
            alive = 1.0 - done_l[t]
            nxt = values[t + 1] if t + 1 < ROLLOUT else next_value
            delta = rew_l[t] + GAMMA * nxt * alive - values[t]
            running = delta + GAMMA * LAMBDA * alive * running
            adv[t] = running
        returns = (adv + values).reshape(-1)
        obs, acts, old_logp = torch.cat(obs_l), torch.cat(act_l), torch.cat(logp_l)
        adv = adv.reshape(-1)
        total = obs.shape[0]
        lr = learning_rate(step, steps)
        for _ in range(EPOCHS):
            for idx in torch.randperm(total, device=device).split(math.ceil(total / MINIBATCHES)):
                out = model(**feed(obs[idx]))
                logp_all = torch.log_softmax(out["{HEAD}"], 1)
                logp = logp_all.gather(1, acts[idx][:, None]).squeeze(1)
                a = adv[idx]
                if CLIPPED:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                    ratio = torch.exp(logp - old_logp[idx])
                    policy_loss = -torch.min(ratio * a, ratio.clamp(1 - CLIP, 1 + CLIP) * a).mean()
                else:
                    policy_loss = -(logp * a).mean()
                value_loss = (out["value"].reshape(-1) - returns[idx]).pow(2).mean()
                entropy = -(logp_all.exp() * logp_all).sum(1).mean()
                loss = policy_loss + VALUE_COEF * value_loss - ENTROPY_COEF * entropy
                descend(optimizer, loss, params, lr)
        log(step, float(loss), envs, f"entropy {float(entropy):.3f}")
"#;

const SAC_LOOP: &str = r#"

def act_greedy(out):
    """The policy's mean action, squashed: what SAC does when it is not exploring."""
    return (torch.tanh(out[:Env.dim]) * Env.high).tolist()


def sample(out, device):
    """A squashed Gaussian draw a = tanh(μ + σ·ε)·high and its log-probability."""
    d = Env.dim
    mean, log_std = out[:, :d], out[:, d:2 * d].clamp(-5.0, 2.0)
    eps = torch.randn_like(mean)
    squashed = torch.tanh(mean + log_std.exp() * eps)
    log_n = -0.5 * eps * eps - log_std - 0.5 * math.log(2 * math.pi)
    correction = torch.log((1.0 + 1e-6 - squashed.pow(2)) * Env.high)
    return squashed * Env.high, (log_n - correction).sum(1)


def min_q(model, obs, action):
    out = model(**feed(obs, action))
    return torch.min(out["q1"].reshape(-1), out["q2"].reshape(-1))


def learn(model, steps, seed, device, log):
    """SAC: one move per step (random until LEARNING_STARTS), then one update of the critics, the
    actor and the temperature on a minibatch; the target critics follow by TAU."""
    envs, rng = VecEnv(1, seed), random.Random(seed ^ 0x5AC)
    params = list(model.parameters())
    probe = model(**feed(torch.zeros(2, Env.observation_size, device=device)))["{HEAD}"]
    used = torch.autograd.grad(probe.sum(), params, allow_unused=True)
    actor = [p for p, g in zip(params, used) if g is not None]
    critics = [p for p, g in zip(params, used) if g is None]
    opt_actor, opt_critics = make_optimizer(actor), make_optimizer(critics)
    log_alpha = torch.tensor(math.log(max(INITIAL_ALPHA, 1e-8)), device=device, requires_grad=True)
    opt_alpha = torch.optim.Adam([log_alpha], lr=SETTINGS["learning_rate"], eps=1e-8)
    target = copy.deepcopy(model)
    buffer, at, loss = [], 0, float("nan")
    for step in range(steps):
        obs = envs.obs[0]
        if len(buffer) < LEARNING_STARTS:
            a = [rng.uniform(-Env.high, Env.high) for _ in range(Env.dim)]
        else:
            with torch.no_grad():
                a = sample(model(**feed(rows([obs], device)))["{HEAD}"], device)[0][0].tolist()
        nxt, reward, ended, _ = envs.step([a])[0]
        item = (obs, a, reward, nxt, float(ended))
        if len(buffer) < BUFFER:
            buffer.append(item)
        else:
            buffer[at] = item
        at = (at + 1) % BUFFER
        if len(buffer) >= max(LEARNING_STARTS, BATCH):
            batch = [buffer[rng.randrange(len(buffer))] for _ in range(BATCH)]
            obs_t, act_t, nxt_t = (rows([b[k] for b in batch], device) for k in (0, 1, 3))
            reward_t, ended_t = rows([b[2] for b in batch], device), rows([b[4] for b in batch], device)
            alpha, lr = float(log_alpha.exp()), learning_rate(step, steps)
            with torch.no_grad():
                a_next, logp_next = sample(model(**feed(nxt_t))["{HEAD}"], device)
                y = reward_t + GAMMA * (1.0 - ended_t) * (min_q(target, nxt_t, a_next) - alpha * logp_next)
            out = model(**feed(obs_t, act_t))
            critic_loss = (out["q1"].reshape(-1) - y).pow(2).mean() + (out["q2"].reshape(-1) - y).pow(2).mean()
            descend(opt_critics, critic_loss, critics, lr)
            a_new, logp = sample(model(**feed(obs_t))["{HEAD}"], device)
            actor_loss = (alpha * logp - min_q(model, obs_t, a_new)).mean()
            descend(opt_actor, actor_loss, actor, lr)
            # The temperature, towards an entropy of −dim.
            alpha_loss = -(log_alpha * (logp.detach().mean() - Env.dim))
            descend(opt_alpha, alpha_loss, [log_alpha], lr)
            follow(target, model, TAU)
            loss = float(critic_loss)
        log(step, loss, envs, f"alpha {math.exp(float(log_alpha)):.3f}")
"#;

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Writes the part of one of the RL recipes.
pub fn part(ctx: &TrainCtx) -> Result<TrainPart, String> {
    let project = ctx.project;
    let recipe = project.recipe.id.as_str();
    let env = match project.dataset.id.as_str() {
        "cartpole" => CARTPOLE,
        "pendulum" => PENDULUM,
        "gridworld" => GRIDWORLD,
        other => return Err(format!("train.py has no Python version of the environment '{other}'")),
    };
    let obs = ctx
        .inputs
        .iter()
        .find(|i| i.field == "observation")
        .map(|i| i.arg.clone())
        .ok_or("the graph has no Input bound to 'observation'")?;
    let action = ctx.inputs.iter().find(|i| i.field == "action");
    let dim = action.and_then(|i| i.dims.get(1).copied().flatten()).unwrap_or(1);
    let f = |name: &str, default: f64| format!("{:?}", float_setting(project, name, default));
    let n = |name: &str, default: usize| usize_setting(project, name, default).to_string();
    let eval = n("eval_episodes", 100);
    let (head, constants, algorithm) = match recipe {
        DQN => (
            "q_values",
            format!(
                "BUFFER, BATCH, LEARNING_STARTS = {}, {}, {}\nGAMMA, TAU, TARGET_EVERY, TRAIN_EVERY = {}, {}, {}, {}\nEPS_START, EPS_END, EPS_FRACTION = {}, {}, {}\nDOUBLE = {}",
                n("buffer", 10_000),
                usize_setting(project, "batch", 128).max(1),
                n("learning_starts", 1_000),
                f("gamma", 0.99),
                f("tau", 0.0),
                usize_setting(project, "target_every", 500).max(1),
                usize_setting(project, "train_every", 1).max(1),
                f("epsilon_start", 1.0),
                f("epsilon_end", 0.05),
                f("epsilon_fraction", 0.5),
                py_bool(setting(project, "double").and_then(|v| v.as_bool()).unwrap_or(true)),
            ),
            DQN_LOOP.to_owned(),
        ),
        PPO | A2C => {
            let plain = recipe == A2C;
            let (epochs, minibatches) = if plain {
                (1, 1)
            } else {
                (
                    usize_setting(project, "epochs", 4).max(1),
                    usize_setting(project, "minibatches", 4).max(1),
                )
            };
            (
                "policy",
                format!(
                    "N_ENVS, ROLLOUT, EPOCHS, MINIBATCHES = {}, {}, {epochs}, {minibatches}\nGAMMA, LAMBDA, CLIP = {}, {}, {}\nVALUE_COEF, ENTROPY_COEF = {}, {}\nCLIPPED = {}",
                    usize_setting(project, "envs", 8).max(1),
                    usize_setting(project, "rollout", 128).max(1),
                    f("gamma", 0.99),
                    f("gae_lambda", 0.95),
                    f("clip", 0.2),
                    f("value_coef", 0.5),
                    f("entropy_coef", 0.01),
                    py_bool(!plain),
                ),
                PPO_LOOP
                    .replace("{EPOCHS}", &epochs.to_string())
                    .replace("{MINIBATCHES}", &minibatches.to_string()),
            )
        }
        SAC => (
            "policy",
            format!(
                "BUFFER, BATCH, LEARNING_STARTS = {}, {}, {}\nGAMMA, TAU, INITIAL_ALPHA = {}, {}, {}",
                usize_setting(project, "buffer", 100_000).max(1),
                usize_setting(project, "batch", 256).max(1),
                n("learning_starts", 1_000),
                f("gamma", 0.99),
                f("tau", 0.005),
                f("initial_alpha", 0.2),
            ),
            SAC_LOOP.to_owned(),
        ),
        other => return Err(format!("'{other}' is not a reinforcement-learning recipe")),
    };
    let what = match recipe {
        DQN => "DQN — ε-greedy acting into a replay buffer, Q-learning on minibatches against a target network",
        PPO => "PPO — rollouts of the softmax policy, GAE advantages, clipped surrogate + value loss − entropy bonus",
        A2C => "A2C — rollouts of the softmax policy, GAE advantages, one policy-gradient step per rollout",
        _ => "SAC — a squashed Gaussian policy, twin critics with a moving-average target, a learned temperature",
    };
    let code = format!(
        "# Recipe: {what}, as Strata trains it, in the environment '{env_id}'.\nTASK = \"{recipe}\"\n{constants}\nEVAL_EPISODES = {eval}\n{env}{common}{algorithm}",
        env_id = project.dataset.id,
        env = env,
        common = COMMON,
    )
    .replace(
        "{FEED}",
        &match action {
            Some(a) => format!(
                "    if action is None:\n        action = torch.zeros(obs.shape[0], {dim}, device=obs.device)\n    return {{\"{obs}\": obs, \"{}\": action}}",
                a.arg
            ),
            None => format!("    return {{\"{obs}\": obs}}"),
        },
    )
    .replace(
        "{FEED_DOC}",
        if action.is_some() {
            " and the actions the critics value (zeros where only the policy is read)"
        } else {
            ""
        },
    )
    .replace("{HEAD}", head);
    Ok(TrainPart {
        code,
        floats: Vec::new(),
        ints: Vec::new(),
        own_loop: true,
    })
}
