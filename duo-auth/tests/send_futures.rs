//! Every public future of the Auth API client, the gate and the Universal Prompt client is
//! `Send`: web frameworks (axum handlers) and `tokio::spawn` require it. This is a compile-time
//! test — if a future stops being `Send` (say, a tracing guard held across an `.await`), this
//! file no longer compiles.

use std::time::Duration;

use duo_auth::AuthClient;
use duo_auth::client::{AuthOptions, Enrollment, Factor, PreauthOptions, PushOptions, UserRef};
use duo_auth::gate::{Challenge, Gate, Login};
use duo_auth::policy::ip::InMemoryLastAuthStore;
use duo_auth::universal::UniversalClient;

fn send<T: Send>(_: T) {}

#[allow(dead_code, clippy::too_many_arguments)] // type-checked, never run
fn futures_are_send(
    client: &AuthClient,
    gate: &Gate<InMemoryLastAuthStore>,
    universal: &UniversalClient,
    user: &UserRef,
    push: PushOptions,
    options: &AuthOptions,
    preauth: &PreauthOptions,
    factor: &Factor,
    login: &Login,
    challenge: &Challenge,
    enrollment: &Enrollment,
) {
    send(client.ping());
    send(client.check());
    send(client.logo());
    send(client.enroll(None, None));
    send(client.enroll_status("", ""));
    send(client.preauth(user, preauth));
    send(client.auth(user, factor, options));
    send(client.auth_async(user, factor, options));
    send(client.auth_status(""));
    send(client.push_and_wait(user, push, options, Duration::ZERO));
    send(client.verify());
    send(gate.begin(login));
    send(gate.complete(login, challenge, factor));
    send(gate.push(login, challenge, Duration::ZERO));
    send(gate.enroll(""));
    send(gate.await_enrollment(enrollment, Duration::ZERO, Duration::ZERO));
    send(universal.health_check());
    send(universal.exchange_code("", "", None));
}

#[test]
fn compiles() {}
