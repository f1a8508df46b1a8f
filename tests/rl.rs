//! Reinforcement learning: the environments (CartPole against the published equations, step by
//! step; Pendulum; the grid world; episodes restarting in a vector of copies), GAE against a hand
//! computation, PPO and DQN learning CartPole in short runs, their views, and bad input (an
//! unknown environment, an action head of the wrong size, continuous actions for PPO).

#![cfg(feature = "engine")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::sync::atomic::AtomicBool;
use strata::data::envs::{self, Action, ActionSpace, CartPole, Env, GridWorld, Pendulum, VecEnv};
use strata::engine::recipes::StepCx;
use strata::telemetry::View;

/// Gym's CartPole-v1 `step`, written out from Barto, Sutton & Anderson (1983) as Gym has it.
fn published(state: [f64; 4], action: usize) -> [f64; 4] {
    let (gravity, masscart, masspole, length, force_mag, tau) = (9.8, 1.0, 0.1, 0.5, 10.0, 0.02);
    let total_mass = masspole + masscart;
    let polemass_length = masspole * length;
    let [x, x_dot, theta, theta_dot] = state;
    let force = if action == 1 { force_mag } else { -force_mag };
    let costheta = theta.cos();
    let sintheta = theta.sin();
    let temp = (force + polemass_length * theta_dot.powi(2) * sintheta) / total_mass;
    let thetaacc =
        (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * costheta.powi(2) / total_mass));
    let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
    [
        x + tau * x_dot,
        x_dot + tau * xacc,
        theta + tau * theta_dot,
        theta_dot + tau * thetaacc,
    ]
}

#[test]
fn cartpole_follows_the_published_equations_step_by_step() {
    // One push to the right from rest, by hand: temp = 10/1.1, θ̈ = −temp/(0.5·(4/3 − 0.1/1.1)),
    // ẍ = temp − 0.05·θ̈/1.1.
    let s = CartPole::dynamics([0.0; 4], 10.0);
    let temp = 10.0 / 1.1;
    let theta_acc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
    let x_acc = temp - 0.05 * theta_acc / 1.1;
    assert!((s[1] - 0.02 * x_acc).abs() < 1e-12 && (s[3] - 0.02 * theta_acc).abs() < 1e-12);
    assert!(
        (s[1] - 0.195_122).abs() < 1e-6 && (s[3] + 0.292_683).abs() < 1e-6,
        "{s:?}"
    );
    // A whole episode of alternating pushes: the environment's state is the published one at
    // every step, and it ends where Gym's does.
    let mut env = CartPole::default();
    let first = env.reset(3);
    assert!(first.iter().all(|v| v.abs() <= 0.05));
    let mut state = env.state;
    for step in 0..500 {
        let a = (step / 3) % 2;
        let t = env.step(&Action::Discrete(a));
        state = published(state, a);
        for (k, want) in state.iter().enumerate() {
            assert!((env.state[k] - want).abs() < 1e-12, "step {step}");
            assert!((f64::from(t.observation[k]) - want).abs() < 1e-6);
        }
        assert_eq!(t.reward, 1.0);
        let fell = state[0].abs() > 2.4 || state[2].abs() > 12.0 * 2.0 * std::f64::consts::PI / 360.0;
        assert_eq!(t.terminated, fell, "step {step}");
        if fell {
            break;
        }
    }
    // Balanced by hand-made control (push towards the lean), an episode is cut at 500 steps.
    let mut env = CartPole::default();
    env.reset(1);
    let mut steps = 0;
    loop {
        let [_, _, th, thd] = env.state;
        let t = env.step(&Action::Discrete(usize::from(th + 0.5 * thd > 0.0)));
        steps += 1;
        if t.terminated || t.truncated {
            assert!(t.truncated && !t.terminated);
            break;
        }
    }
    assert_eq!(steps, 500);
}

#[test]
fn pendulum_grid_world_and_vectorised_copies() {
    let mut p = Pendulum::default();
    let obs = p.reset(4);
    assert_eq!(obs.len(), 3);
    assert!((obs[0].powi(2) + obs[1].powi(2) - 1.0).abs() < 1e-5, "cos² + sin² = 1");
    assert_eq!(
        p.action_space(),
        ActionSpace::Continuous {
            dim: 1,
            low: -2.0,
            high: 2.0
        }
    );
    // Upright and still, no torque: cost 0; the reward is −(θ² + 0.1θ̇² + 0.001u²).
    p.state = [0.0, 0.0];
    assert_eq!(p.step(&Action::Continuous(vec![0.0])).reward, 0.0);
    p.state = [0.5, 1.0];
    let r = p.step(&Action::Continuous(vec![5.0])).reward; // clipped to 2
    assert!((f64::from(r) + (0.25 + 0.1 + 0.004)).abs() < 1e-6, "{r}");
    let mut steps = 0;
    p.reset(5);
    while !p.step(&Action::Continuous(vec![0.0])).truncated {
        steps += 1;
    }
    assert_eq!(steps + 1, 200);
    // The grid world: right ×3, down ×4 (through the gap in the wall), right: the goal.
    let mut g = GridWorld::default();
    g.reset(0);
    let path = [1, 1, 1, 2, 2, 2, 2, 1];
    let mut last = None;
    for a in path {
        last = Some(g.step(&Action::Discrete(a)));
    }
    let last = last.unwrap();
    assert!(last.terminated && last.reward == 1.0);
    g.reset(0);
    g.step(&Action::Discrete(2));
    g.step(&Action::Discrete(2));
    assert_eq!(g.at, (1, 0), "the wall stops the agent");
    // Copies restart where an episode ends and report its return.
    let mut v = VecEnv::new("cartpole", 3, 9).unwrap();
    for _ in 0..40 {
        v.step(&[Action::Discrete(0), Action::Discrete(0), Action::Discrete(1)]);
    }
    assert!(v.finished.len() >= 3, "pushing one way ends episodes fast");
    assert!(v.finished.iter().all(|&(r, l)| r == f64::from(l) && l < 40));
    // Every environment draws itself.
    for id in envs::IDS {
        let e = envs::make(id).unwrap();
        assert!(e.render(200).is_well_formed(), "{id}");
    }
    let err = envs::make("mountain_car").err().unwrap();
    assert!(
        err.contains("no environment 'mountain_car'") && err.contains("cartpole"),
        "{err}"
    );
}

/// GAE on two copies for three steps, against the recursion written out by hand.
#[test]
fn gae_matches_a_hand_computation() {
    use strata::engine::recipes::ppo::gae;
    let (g, l) = (0.9f64, 0.8f64);
    // Time-major: [t0 copy0, t0 copy1, t1 copy0, ...]; copy 1's episode ends at t1.
    let rewards = [1.0f32, 1.0, 1.0, 1.0, 1.0, 1.0];
    let values = [0.5f32, 0.4, 0.6, 0.3, 0.7, 0.2];
    let dones = [false, false, false, true, false, false];
    let next = [0.8f32, 0.1];
    let (adv, ret) = gae(&rewards, &values, &dones, &next, 2, g, l);
    let d = |r: f64, v: f64, nv: f64, alive: f64| r + g * nv * alive - v;
    // Copy 0: never done.
    let d02 = d(1.0, 0.7, 0.8, 1.0);
    let d01 = d(1.0, 0.6, 0.7, 1.0);
    let d00 = d(1.0, 0.5, 0.6, 1.0);
    let a02 = d02;
    let a01 = d01 + g * l * a02;
    let a00 = d00 + g * l * a01;
    // Copy 1: done at t1, so t1 does not look past it and t0 still does.
    let a12 = d(1.0, 0.2, 0.1, 1.0);
    let a11 = d(1.0, 0.3, 0.2, 0.0);
    let a10 = d(1.0, 0.4, 0.3, 1.0) + g * l * a11;
    let want = [a00, a10, a01, a11, a02, a12];
    for (k, (a, w)) in adv.iter().zip(want).enumerate() {
        assert!((f64::from(*a) - w).abs() < 1e-5, "{k}: {a} vs {w}");
        assert!((ret[k] - (a + values[k])).abs() < 1e-6);
    }
}

/// PPO learns CartPole within a short run: the greedy return over 20 episodes passes 150 after
/// 30 rollouts (from about 9–10 at the start); the environment and action views draw.
#[test]
fn ppo_learns_to_balance_the_pole() {
    let _serial = serial();
    let mut p = preset("ppo_cartpole");
    p.recipe.settings.insert("eval_episodes".into(), 20.into());
    let cancel = AtomicBool::new(false);
    let mut fresh = start_recipe(&p).unwrap();
    let before = fresh.evaluate(&cancel).unwrap().scalars["mean_return"];
    let mut run = start_recipe(&p).unwrap();
    let mut last = None;
    for _ in 0..30 {
        last = Some(run.step(&mut StepCx::new(30, &cancel)).unwrap().read());
    }
    let s = last.unwrap();
    assert!(
        s.contains_key("policy_loss") && s.contains_key("value_loss") && s["entropy"] > 0.0,
        "{s:?}"
    );
    let after = run.evaluate(&cancel).unwrap().scalars["mean_return"];
    assert!(before < 60.0 && after > 150.0, "{before} → {after}");
    let views = run.views(&cancel).unwrap();
    let View::Image(strip) = &views.iter().find(|(c, _)| c == "environment").unwrap().1 else {
        panic!()
    };
    assert!(
        strip.is_well_formed() && strip.width > 3 * strip.height,
        "a strip of frames"
    );
    let View::Matrix(m) = &views.iter().find(|(c, _)| c == "actions").unwrap().1 else {
        panic!()
    };
    assert_eq!(m.col_labels.len(), 2);
    assert!((m.values[0].iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

/// A2C (the same loop, the plain policy gradient) passes 150 within 1 500 short rollouts.
#[test]
fn a2c_learns_to_balance_the_pole() {
    let _serial = serial();
    let mut p = preset("a2c_cartpole");
    p.recipe.settings.insert("eval_episodes".into(), 20.into());
    let cancel = AtomicBool::new(false);
    let mut run = start_recipe(&p).unwrap();
    for _ in 0..1500 {
        run.step(&mut StepCx::new(1500, &cancel)).unwrap();
    }
    let after = run.evaluate(&cancel).unwrap().scalars["mean_return"];
    assert!(after > 150.0, "{after}");
}

/// DQN fills its buffer, then learns: the TD loss is finite, the Q-values grow towards the
/// discounted return, and the greedy policy beats the start.
#[test]
fn dqn_learns_from_its_replay_buffer() {
    let _serial = serial();
    let mut p = preset("dqn_cartpole");
    p.recipe.settings.insert("eval_episodes".into(), 20.into());
    let cancel = AtomicBool::new(false);
    let mut run = start_recipe(&p).unwrap();
    let first = run.step(&mut StepCx::new(4000, &cancel)).unwrap().read();
    assert!(!first.contains_key("loss"), "no update before learning_starts");
    assert!((first["epsilon"] - 1.0).abs() < 1e-9);
    let mut last = first;
    for _ in 1..4000 {
        last = run.step(&mut StepCx::new(4000, &cancel)).unwrap().read();
    }
    assert!(last["loss"].is_finite() && last["q_mean"] > 5.0, "{last:?}");
    assert!((last["epsilon"] - 0.05).abs() < 1e-9);
    let eval = run.evaluate(&cancel).unwrap().scalars["mean_return"];
    assert!(eval > 30.0, "{eval}");
}

/// SAC swings the pendulum up within a short run: the mean-action return over 10 episodes rises
/// from about −1 200 to above −600 in 3 500 moves; α is learned; the view draws.
#[test]
fn sac_learns_to_swing_the_pendulum_up() {
    let _serial = serial();
    let mut p = preset("sac_pendulum");
    p.recipe.settings.insert("eval_episodes".into(), 10.into());
    let cancel = AtomicBool::new(false);
    let mut run = start_recipe(&p).unwrap();
    let before = run.evaluate(&cancel).unwrap().scalars["mean_return"];
    let mut last = None;
    for _ in 0..3500 {
        last = Some(run.step(&mut StepCx::new(3500, &cancel)).unwrap().read());
    }
    let s = last.unwrap();
    assert!(s["loss"].is_finite() && s["actor_loss"].is_finite(), "{s:?}");
    assert!(s["alpha"] > 0.0 && (s["alpha"] - 0.2).abs() > 1e-3, "α moved: {s:?}");
    let after = run.evaluate(&cancel).unwrap().scalars["mean_return"];
    assert!(before < -900.0 && after > -600.0, "{before} → {after}");
    let views = run.views(&cancel).unwrap();
    assert!(matches!(&views[0].1, View::Image(p) if p.is_well_formed()));
    // Discrete environments are for the other recipes; the critics need the action Input.
    let mut p = preset("sac_pendulum");
    p.dataset.id = "cartpole".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("continuous actions") && err.contains("DQN"), "{err}");
}

#[test]
fn bad_rl_setups_are_named() {
    let _serial = serial();
    // An unknown environment.
    let mut p = preset("ppo_cartpole");
    p.dataset.id = "mountain_car".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("mountain_car"), "{err}");
    // A policy head of the wrong size, named with its node and the fix.
    let mut p = preset("ppo_cartpole");
    let head = p
        .graph
        .wires
        .iter()
        .find(|w| {
            p.graph.node(w.to).unwrap().kind == "output"
                && p.graph.node(w.to).unwrap().params.get("role").and_then(|v| v.as_text()) == Some("policy")
        })
        .unwrap()
        .from;
    p.graph
        .node_mut(head)
        .unwrap()
        .params
        .insert("out_features".into(), 3.into());
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(
        err.contains("gives 3 numbers") && err.contains("2 actions") && err.contains("2 wide"),
        "{err}"
    );
    // Continuous actions for PPO.
    let mut p = preset("ppo_cartpole");
    p.dataset.id = "pendulum".into();
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("continuous"), "{err}");
    // An observation Input of the wrong width.
    let mut p = preset("dqn_cartpole");
    for n in &mut p.graph.nodes {
        if n.kind == "input" {
            n.params.insert("shape".into(), shape("B,5"));
        }
    }
    let err = start_recipe(&p).err().unwrap().to_string();
    assert!(err.contains("observes 4 numbers") && err.contains("B,4"), "{err}");
}
