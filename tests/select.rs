//! select() waits on several connections at once, without polling, without starving any.
mod common;
use common::*;
use std::time::Instant;

#[test]
fn select_over_three_connections() {
    within(ms(10_000), || {
        let srv = command_server();
        let conns: Vec<_> = (0..3)
            .map(|_| wsdial::dial(&srv.url("/")).unwrap())
            .collect();
        let refs: Vec<&wsdial::Conn> = conns.iter().collect();

        let t = Instant::now();
        assert_eq!(wsdial::select(&refs, Some(ms(50))), None, "nothing ready");
        assert!(t.elapsed() >= ms(50));

        for target in [2, 0, 1] {
            conns[target].write(&format!("cmd:send for{target}"));
            let i = wsdial::select(&refs, Some(ms(5000))).expect("one becomes ready");
            assert_eq!(i, target);
            assert_eq!(text(&conns[i].try_read().unwrap()), format!("for{target}"));
        }

        // A blocking select (no timeout) wakes for a message on any of them.
        conns[1].write("cmd:send wake");
        assert_eq!(wsdial::select(&refs, None), Some(1));

        // A lost connection counts as ready.
        conns[1].try_read();
        conns[0].write("cmd:drop");
        assert_eq!(wsdial::select(&refs, Some(ms(5000))), Some(0));
        assert!(conns[0].try_read().unwrap().is_disconnect());
    });
}

#[test]
fn a_busy_feed_does_not_starve_a_quiet_one() {
    within(ms(10_000), || {
        let srv = command_server();
        let busy = wsdial::dial(&srv.url("/")).unwrap();
        let quiet = wsdial::dial(&srv.url("/")).unwrap();
        busy.write("cmd:count 1000 b");
        quiet.write("cmd:send q");
        eventually(ms(5000), "both arrived", || {
            busy.stats().received == 1000 && quiet.stats().received == 1
        });
        let feeds = [&busy, &quiet];
        let mut picks = Vec::new();
        for _ in 0..4 {
            let i = wsdial::select(&feeds, Some(ms(1000))).unwrap();
            picks.push(i);
            if i == 1 {
                break;
            }
            feeds[i].try_read();
        }
        assert!(
            picks.contains(&1),
            "the quiet feed was picked within 4 selects: {picks:?}"
        );
    });
}
