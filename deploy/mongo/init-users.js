// Each service's MongoDB user, created once by the mongo image on the first start (an empty
// volume), as root, before the replica set exists (deploy/compose.yaml mounts this file into
// /docker-entrypoint-initdb.d). Passwords come from the container's environment (deploy/.env).
// Every service gets readWrite on its own database only. Ingress also serves the admin API,
// whose database is givecare_admin and which reads the other services through their views
// (and the migrations' progress): read-only on those. tests/unit/test_deploy.py reads USERS.
const USERS = {
  "ingress": {
    "readWrite": ["givecare_ingress", "givecare_admin"],
    "read": ["givecare_sms_worker", "givecare_sms_sender", "givecare_billing_worker", "givecare_migrations"]
  },
  "sms_worker": {"readWrite": ["givecare_sms_worker"], "read": []},
  "sms_sender": {"readWrite": ["givecare_sms_sender"], "read": []},
  "billing_worker": {"readWrite": ["givecare_billing_worker"], "read": []},
  "scheduler": {"readWrite": ["givecare_scheduler"], "read": []}
};

const admin = db.getSiblingDB("admin");
for (const [user, access] of Object.entries(USERS)) {
  const variable = "DB_PASSWORD_" + user.toUpperCase();
  const password = process.env[variable];
  if (!password) {
    throw new Error(variable + " is not set (deploy/.env)");
  }
  const roles = access.readWrite
    .map((name) => ({ role: "readWrite", db: name }))
    .concat(access.read.map((name) => ({ role: "read", db: name })));
  admin.createUser({ user: user, pwd: password, roles: roles });
}
