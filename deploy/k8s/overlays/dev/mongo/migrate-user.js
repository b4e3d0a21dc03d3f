// The migrate Job's MongoDB user in the development cluster (run after init-users.js, on the
// first start of an empty data directory). Migrations read the legacy database and write the
// services' databases they migrate into, and their own progress; they never touch ingress's or
// the admin's database (operators and tokens). tests/unit/test_k8s.py reads MIGRATE.
const MIGRATE = {
  "readWrite": [
    "givecare_migrations",
    "givecare_legacy",
    "givecare_sms_worker",
    "givecare_sms_sender",
    "givecare_billing_worker",
    "givecare_scheduler"
  ]
};

const password = process.env.DB_PASSWORD_MIGRATE;
if (!password) {
  throw new Error("DB_PASSWORD_MIGRATE is not set (Secret dev-mongo)");
}
db.getSiblingDB("admin").createUser({
  user: "migrate",
  pwd: password,
  roles: MIGRATE.readWrite.map((name) => ({ role: "readWrite", db: name }))
});
