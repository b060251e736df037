//! Property test: random sequences of every session operation (create, create for another
//! region's user, get, touch, update, logout, revoke, erase), sync passes (demotion,
//! write-behind, failback), clock jumps and outages of any region's hot tier and of either cold
//! table, from every region, under every durability, with eu-west-1's sessions restricted to
//! eu-west-1 alone or to eu-west-1 and eu-central-1.
//!
//! Checked after every operation: no store outside the allowed regions holds anything of a
//! restricted session (no hot copy or tombstone, no record in the shared table, no record in the
//! shared audit trail), and every cold call about one went through an allowed replica. The full
//! reference model of the engine's answers is `model_property.rs` (which runs without residency).

mod residency_support;

use std::time::Duration;

use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{Durability, RegionId, SessionId};
use proptest::prelude::*;
use residency_support::{World, data, user};

/// Cases per run: a few seconds in a debug build.
const CASES: u32 = 400;

#[derive(Debug, Clone)]
enum Op {
    Create { region: u16, user: u8 },
    CreateIn { region: u16, home: u16, user: u8 },
    Get { session: usize, region: u16 },
    Touch { session: usize, region: u16 },
    Update { session: usize, region: u16 },
    Logout { session: usize, region: u16 },
    Revoke { user: u8, region: u16 },
    Erase { user: u8, region: u16 },
    Sync { region: u16 },
    Advance { seconds: u64 },
    Hot { region: u16, up: bool },
    ColdTable { eu: bool, up: bool },
}

fn op() -> impl Strategy<Value = Op> {
    let region = 0u16..3;
    let session = 0usize..16;
    let user = 0u8..3;
    prop_oneof![
        4 => (region.clone(), user.clone()).prop_map(|(region, user)| Op::Create { region, user }),
        3 => (region.clone(), region.clone(), user.clone())
            .prop_map(|(region, home, user)| Op::CreateIn { region, home, user }),
        4 => (session.clone(), region.clone()).prop_map(|(session, region)| Op::Get { session, region }),
        2 => (session.clone(), region.clone()).prop_map(|(session, region)| Op::Touch { session, region }),
        3 => (session.clone(), region.clone()).prop_map(|(session, region)| Op::Update { session, region }),
        1 => (session, region.clone()).prop_map(|(session, region)| Op::Logout { session, region }),
        1 => (user.clone(), region.clone()).prop_map(|(user, region)| Op::Revoke { user, region }),
        1 => (user, region.clone()).prop_map(|(user, region)| Op::Erase { user, region }),
        3 => region.clone().prop_map(|region| Op::Sync { region }),
        2 => prop_oneof![Just(60u64), Just(1_900), Just(7_300)].prop_map(|seconds| Op::Advance { seconds }),
        2 => (region, any::<bool>()).prop_map(|(region, up)| Op::Hot { region, up }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(eu, up)| Op::ColdTable { eu, up }),
    ]
}

fn run(eu_allowed: &[&str], durability: Durability, ops: &[Op]) {
    let world = World::new(eu_allowed, durability);
    let mut sessions: Vec<SessionId> = Vec::new();
    let name = |u: u8| user(&format!("user-{u}"));
    for op in ops {
        // Answers are not checked here (model_property.rs does); only where data went.
        match *op {
            Op::Create { region, user } => {
                if let Ok(created) = now_or_panic(world.at(RegionId(region)).create(name(user), data(0))) {
                    sessions.push(created.session.id);
                }
            }
            Op::CreateIn { region, home, user } => {
                let made = now_or_panic(world.at(RegionId(region)).create_in(RegionId(home), name(user), data(0)));
                if let Ok(created) = made {
                    sessions.push(created.session.id);
                }
            }
            Op::Get { session, region } => {
                if let Some(id) = sessions.get(session) {
                    let _ = now_or_panic(world.at(RegionId(region)).get(id));
                }
            }
            Op::Touch { session, region } => {
                if let Some(id) = sessions.get(session) {
                    let _ = now_or_panic(world.at(RegionId(region)).touch(id));
                }
            }
            Op::Update { session, region } => {
                if let Some(id) = sessions.get(session) {
                    let manager = world.at(RegionId(region));
                    if let Ok(touched) = now_or_panic(manager.touch(id)) {
                        let _ = now_or_panic(manager.update(id, data(touched.version), touched.version));
                    }
                }
            }
            Op::Logout { session, region } => {
                if let Some(id) = sessions.get(session) {
                    let _ = now_or_panic(world.at(RegionId(region)).logout(id));
                }
            }
            Op::Revoke { user, region } => {
                let _ = now_or_panic(world.at(RegionId(region)).revoke_user(&name(user)));
            }
            Op::Erase { user, region } => {
                let _ = now_or_panic(world.at(RegionId(region)).erase_user(&name(user)));
            }
            Op::Sync { region } => {
                let region = RegionId(region);
                now_or_panic(world.sync.move_home(region));
                now_or_panic(world.sync.run_once(region));
                now_or_panic(world.sync.flush_dirty(region));
            }
            Op::Advance { seconds } => world.clock.advance(Duration::from_secs(seconds)),
            Op::Hot { region, up } => world.hot[usize::from(region)].set_available(up),
            Op::ColdTable { eu, up } => {
                if eu {
                    world.eu_table.set_available(up)
                } else {
                    world.shared_table.set_available(up)
                }
            }
        }
        world.assert_nothing_outside();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn no_operation_sequence_puts_a_restricted_session_outside_its_allowed_regions(
        pinned in any::<bool>(),
        durability in prop_oneof![
            Just(Durability::OnDemotion),
            Just(Durability::WriteThrough),
            Just(Durability::WriteBehind),
        ],
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let allowed: &[&str] = if pinned { &["eu-west-1"] } else { &["eu-west-1", "eu-central-1"] };
        run(allowed, durability, &ops);
    }
}
