package testkit

import "testing"

// The real services, started once per test binary on their own datastores and
// wired to each other as in production; each returns its base URL.

// SharedUser is the user service.
func SharedUser(t testing.TB) string {
	t.Helper()
	return SharedService(t, UserService, map[string]string{"MONGO_URI": MongoURI(t), "BCRYPT_COST": "10"})
}

// SharedCatalogue is the catalogue service.
func SharedCatalogue(t testing.TB) string {
	t.Helper()
	return SharedService(t, CatalogueService, map[string]string{"MONGO_URI": MongoURI(t)})
}

// SharedCart is the cart service, on the shared Redis (SharedRedisURL).
func SharedCart(t testing.TB) string {
	t.Helper()
	return SharedService(t, CartService, map[string]string{
		"REDIS_URL": SharedRedisURL(t), "USER_URL": SharedUser(t), "CATALOGUE_URL": SharedCatalogue(t)})
}

// SharedPayment is the payment service, on its own database of the shared MariaDB.
func SharedPayment(t testing.TB) string {
	t.Helper()
	return SharedService(t, PaymentService, map[string]string{"MYSQL_DSN": MariaDBDSN(t),
		"USER_URL": SharedUser(t), "CATALOGUE_URL": SharedCatalogue(t), "CART_URL": SharedCart(t)})
}
