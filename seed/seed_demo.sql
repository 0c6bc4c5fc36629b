insert into auth.user (username, password, role) values (
  'demo', 'demo', 'basic_subscriber'
);
