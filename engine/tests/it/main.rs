mod credential;
