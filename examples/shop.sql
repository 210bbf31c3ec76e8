-- The bundled example: a small legacy shop database in SQLite.
-- Regenerate with: rm -f examples/shop.db && sqlite3 examples/shop.db < examples/shop.sql
-- Deterministic (no random()), so every checkout has the same data.
PRAGMA foreign_keys = ON;

CREATE TABLE customers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  email TEXT NOT NULL UNIQUE,
  phone TEXT,
  country TEXT,
  created_at TEXT NOT NULL,          -- ISO timestamp stored as TEXT
  newsletter INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE products (
  sku TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  price NUMERIC(10,2) NOT NULL,
  weight_kg REAL,
  attributes TEXT                     -- JSON in TEXT
);

CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
  placed_at TEXT NOT NULL,
  status TEXT NOT NULL,
  note BLOB
);
CREATE INDEX orders_customer ON orders(customer_id);

CREATE TABLE order_items (
  order_id INTEGER NOT NULL REFERENCES orders(id),
  line INTEGER NOT NULL,
  sku TEXT NOT NULL REFERENCES products(sku),
  quantity INTEGER NOT NULL,
  PRIMARY KEY (order_id, line)
);

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers (name, email, phone, country, created_at, newsletter)
SELECT
  'Customer ' || i,
  'customer' || i || '@' || (CASE i % 3 WHEN 0 THEN 'example.com' WHEN 1 THEN 'mail.example.org' ELSE 'shop.test' END),
  CASE WHEN i % 5 = 0 THEN NULL ELSE '+44 20 7946 ' || printf('%04d', i) END,
  CASE i % 4 WHEN 0 THEN 'GB' WHEN 1 THEN 'FR' WHEN 2 THEN 'DE' ELSE 'NL' END,
  strftime('%Y-%m-%dT%H:%M:%SZ', '2020-01-01', '+' || (i * 7) || ' hours'),
  i % 2
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO products (sku, title, price, weight_kg, attributes)
SELECT
  'SKU-' || printf('%03d', i),
  'Product ' || i,
  printf('%.2f', (i * 137 % 10000) / 100.0 + 0.99),
  CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.125 END,
  json_object('colour', CASE i % 3 WHEN 0 THEN 'red' WHEN 1 THEN 'green' ELSE 'blue' END, 'tags', json_array('t' || (i % 5), 'shop'))
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
INSERT INTO orders (id, customer_id, placed_at, status, note)
SELECT
  i,
  (i * 7919) % 2000 + 1,
  strftime('%Y-%m-%dT%H:%M:%SZ', '2021-01-01', '+' || (i * 3) || ' hours'),
  CASE i % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'pending' ELSE 'shipped' END,
  CASE WHEN i % 9 = 0 THEN x'CAFE' || zeroblob(2) ELSE NULL END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000),
     l(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM l WHERE j < 3)
INSERT INTO order_items (order_id, line, sku, quantity)
SELECT i, j, 'SKU-' || printf('%03d', (i * 31 + j * 17) % 50 + 1), (i + j) % 4 + 1
FROM n, l WHERE j <= (i % 3) + 1;
