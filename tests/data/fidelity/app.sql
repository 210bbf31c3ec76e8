-- An application's SQLite database, written for ferry's schema-fidelity
-- tests (part of ferry, same licence). It holds what real legacy databases
-- hold: AUTOINCREMENT and rowid-alias keys, a key that is neither (so
-- SQLite stored NULL in it), declared VARCHAR/CHAR/SMALLINT/INT/DECIMAL/
-- DATETIME types, named constraints, CHECKs that translate and one that
-- does not, views (one on another), and a trigger.

CREATE TABLE customers (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  email      VARCHAR(45) NOT NULL,
  country    CHAR(2)     NOT NULL DEFAULT 'NZ',
  status     VARCHAR(10) NOT NULL DEFAULT 'active',
  age        SMALLINT,
  created_at DATETIME    NOT NULL,
  CONSTRAINT uq_customers_email UNIQUE (email),
  CONSTRAINT ck_customers_status CHECK (status IN ('active', 'paused', 'closed')),
  CONSTRAINT ck_customers_email CHECK (email LIKE '%@%')
);

CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id INT NOT NULL,
  quantity    INT NOT NULL DEFAULT 1,
  total       DECIMAL(8,2) NOT NULL CHECK (total >= 0),
  placed_at   DATETIME NOT NULL,
  note        TEXT,
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
);
CREATE INDEX ix_orders_placed ON orders (placed_at);

-- `integer auto_increment` is not INTEGER: no rowid alias, so NULL keys.
CREATE TABLE legacy_codes (
  id     integer auto_increment primary key,
  code   VARCHAR(8),
  weight REAL,
  CONSTRAINT ck_legacy_code CHECK (code GLOB '[A-Z]*')
);

CREATE VIEW active_customers AS
  SELECT id, email FROM customers WHERE status = 'active';
CREATE VIEW big_orders AS
  SELECT o.id, o.total, c.email
  FROM orders o JOIN active_customers c ON c.id = o.customer_id
  WHERE o.total > 100;

CREATE TRIGGER orders_note AFTER INSERT ON orders
BEGIN
  UPDATE orders SET note = 'new' WHERE id = NEW.id AND note IS NULL;
END;

INSERT INTO customers (id, email, country, status, age, created_at) VALUES
  (1, 'ann@example.com', 'NZ', 'active', 34, '2021-03-04 10:00:00'),
  (2, 'bob@example.com', 'AU', 'paused', NULL, '2021-05-06 11:30:00'),
  (3, 'cy@example.com',  'NZ', 'active', 71, '2022-01-02 09:15:00'),
  (4, 'dee@example.com', 'FR', 'closed', 19, '2022-07-08 18:45:00'),
  (6, 'eve@example.com', 'NZ', 'active', 45, '2023-02-03 08:00:00');

-- placed_at holds dates only: the column is still a timestamp.
INSERT INTO orders (id, customer_id, quantity, total, placed_at, note) VALUES
  (10, 1, 2, 120.50, '2023-01-05', 'first'),
  (11, 1, 1, 15.00,  '2023-01-06', NULL),
  (12, 3, 5, 250.00, '2023-02-01', 'gift'),
  (13, 2, 1, 99.99,  '2023-02-14', NULL),
  (14, 6, 3, 101.00, '2023-03-01', NULL),
  (17, 4, 1, 0.00,   '2023-03-02', 'refund');

INSERT INTO legacy_codes (id, code, weight) VALUES
  (1, 'ALPHA', 1.5),
  (2, 'BETA', 2.25),
  (NULL, 'GAMMA', 3.0),
  (5, 'DELTA', NULL),
  (NULL, 'EPSILON', 0.5);
