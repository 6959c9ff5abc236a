// Command payment is Roboshop's checkout: it prices the caller's cart from the
// catalogue, charges the card through a gateway, and records the order in MySQL,
// at most once per Idempotency-Key.
package main

import "github.com/roboshop-go/roboshop/kit"

func main() { kit.Main(run) }
