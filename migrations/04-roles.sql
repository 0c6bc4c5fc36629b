create role basic_subscriber;
