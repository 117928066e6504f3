//! Every public future and stream of the Admin API client is `Send`: web frameworks and
//! `tokio::spawn` require it. A compile-time test — if one stops being `Send` (a tracing guard
//! held across an `.await`, say), this file no longer compiles.

use duo_admin::AdminClient;
use duo_admin::import::{ImportOptions, PortalUser, all_users, import};
use duo_admin::review::AccessReview;

fn send<T: Send>(_: T) {}

#[allow(dead_code)] // type-checked, never run
fn futures_are_send(client: &AdminClient, portal: &[PortalUser], options: &ImportOptions) {
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
