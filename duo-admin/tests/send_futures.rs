//! Every public future and stream of the Admin API client is `Send`: web frameworks and
//! `tokio::spawn` require it. A compile-time test — if one stops being `Send` (a tracing guard
//! held across an `.await`, say), this file no longer compiles.

use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalIdentity, all_users, import};
use duo_admin::review::AccessReview;

fn send<T: Send>(_: T) {}
fn unpin<T: Unpin>(_: T) {}

#[allow(dead_code)] // type-checked, never run
fn futures_are_send(client: &AdminClient, portal: &[PortalIdentity], options: &ImportOptions) {
    send(import(client, portal, options, |_| {}));
    send(all_users(client, 2, |_| {}));
    send(AccessReview::read(client));
    send(client.users());
    send(client.user_pages());
    send(client.users_by_username(""));
    send(client.user(""));
    send(client.groups());
    send(client.group_members(""));
    send(client.admins());
    send(client.phones());
    send(client.create_user(&Default::default()));
}

/// Every public listing can be polled with `.try_next()` without pinning it first.
#[allow(dead_code)]
fn streams_are_unpin(client: &AdminClient) {
    unpin(client.users());
    unpin(client.user_pages());
    unpin(client.users_by_usernames(&[]));
    unpin(client.users_by_ids(&[]));
    unpin(client.user_phones(""));
    unpin(client.user_groups(""));
    unpin(client.groups());
    unpin(client.group_members(""));
    unpin(client.admins());
    unpin(client.phones());
}
