-- Roles and load, run once at image build by the superuser (entrypoint.sh --build).
-- app: the candidate's role, owner of database shop and its tables, not a superuser.
-- grader: reads statistics and data (never writes); reachable only on the sidecar's own unix
--         socket, with a password set per grading from ASSESS_CONTROL_TOKEN.
CREATE ROLE app LOGIN PASSWORD 'app' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE grader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
GRANT pg_read_all_stats, pg_read_all_data TO grader;
ALTER ROLE grader SET default_transaction_read_only = on;
ALTER ROLE grader SET statement_timeout = '60s';
-- pg_catalog first, then public: a schema the candidate creates (it may, as the database's owner)
-- can never shadow what the grader reads.
ALTER ROLE grader SET search_path = pg_catalog;  -- public is the candidate's: see control.py
-- Connections left for the grader whatever the candidate opens (max_connections = 60).
ALTER ROLE app CONNECTION LIMIT 40;
-- The database belongs to postgres, not app: an owner could REVOKE CONNECT from PUBLIC, lower
-- the connection limit or refuse connections, and lock the grader out of its own measurements.
CREATE DATABASE shop;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE shop TO app;
\connect shop
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO app;
-- The statistics live in a schema of the superuser's that the candidate cannot use: the owner of
-- public could drop and fake a view there (a schema's owner may drop what it holds).
CREATE SCHEMA stats AUTHORIZATION postgres;
REVOKE ALL ON SCHEMA stats FROM PUBLIC;
GRANT USAGE ON SCHEMA stats TO grader;
CREATE EXTENSION pg_stat_statements SCHEMA stats;
SET ROLE app;
\i /opt/db/schema.sql
\copy products FROM '/tmp/data/products.tsv'
\copy customers FROM '/tmp/data/customers.tsv'
\copy orders FROM '/tmp/data/orders.tsv'
\copy order_items FROM '/tmp/data/order_items.tsv'
SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT max(id) FROM products));
SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers));
SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders));
SELECT setval(pg_get_serial_sequence('order_items', 'id'), (SELECT max(id) FROM order_items));
RESET ROLE;
VACUUM (ANALYZE, FREEZE);
SELECT stats.pg_stat_statements_reset();
